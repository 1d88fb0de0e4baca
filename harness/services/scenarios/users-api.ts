/** SPEC §2, every row of the users table, through the gateway (db/clear and _count directly). */
import { describe, expect, it } from 'vitest';
import { addRide, addUser, expectEmpty, expectError, PASSWORD, unique, type ScenarioContext } from '../scenario-helpers.ts';

export function usersApiScenarios(ctx: ScenarioContext): void {
  describe('users API', () => {
    const gateway = () => ctx.stack().gateway;
    const usersInstance = () => ctx.stack().users[0]!;

    it('PUT creates a user: 201 {}', async () => {
      const result = await gateway().put('/api/v1/users', { username: unique('alice'), password: PASSWORD });
      expect(result.status).toBe(201);
      expect(result.body).toEqual({});
    });

    it('usernames are case-sensitive, passwords any case', async () => {
      const name = unique('case');
      expect((await gateway().put('/api/v1/users', { username: name, password: PASSWORD })).status).toBe(201);
      expect((await gateway().put('/api/v1/users', { username: name.toUpperCase(), password: PASSWORD.toUpperCase() })).status).toBe(201);
      expectError(await gateway().put('/api/v1/users', { username: name, password: PASSWORD }), 400, 'BAD_REQUEST');
    });

    it.each([
      ['a 39-digit password', { password: PASSWORD.slice(1) }],
      ['a 41-digit password', { password: `${PASSWORD}0` }],
      ['a non-hex password', { password: `${PASSWORD.slice(1)}g` }],
      ['a missing password', { password: undefined }],
      ['a numeric password', { password: 1234 }],
      ['a missing username', { username: undefined }],
      ['a numeric username', { username: 42 }],
      ['a 100 kB username', { username: 'x'.repeat(100_000) }],
      ['an extra field', { admin: true }],
    ])('PUT with %s: 400', async (_label, change) => {
      const body = { username: unique('bad'), password: PASSWORD, ...change };
      expectError(await gateway().put('/api/v1/users', body), 400, 'BAD_REQUEST');
    });

    it.each([
      ['malformed JSON', '{"username": "x", '],
      ['an empty body', ''],
      ['a JSON array', '[]'],
      ['a JSON string', '"alice"'],
      ['a 40-digit number for the username', `{"username": 1234567890123456789012345678901234567890, "password": "${PASSWORD}"}`],
    ])('PUT with %s: 400', async (_label, raw) => {
      expectError(await gateway().call('PUT', '/api/v1/users', { raw, headers: { 'content-type': 'application/json' } }), 400, 'BAD_REQUEST');
    });

    it('PUT without a Content-Type still reads the JSON body', async () => {
      const result = await gateway().call('PUT', '/api/v1/users', { raw: JSON.stringify({ username: unique('noct'), password: PASSWORD }) });
      expect(result.status).toBe(201);
    });

    it('GET lists every username (200), or answers 204 with an empty body when there is none', async () => {
      expect((await usersInstance().post('/api/v1/db/clear')).status).toBe(200);
      expectEmpty(await gateway().get('/api/v1/users'));
      const names = [unique('b'), unique('a')];
      for (const name of names) await addUser(ctx.stack(), name);
      const result = await gateway().get('/api/v1/users');
      expect(result.status).toBe(200);
      expect(result.body).toEqual([...names].sort());
    });

    it('GET ?username= answers that one user (200) or 204', async () => {
      const name = await addUser(ctx.stack());
      const found = await gateway().get(`/api/v1/users?username=${encodeURIComponent(name)}`);
      expect(found.status).toBe(200);
      expect(found.body).toEqual([name]);
      expectEmpty(await gateway().get(`/api/v1/users?username=${encodeURIComponent(name.toUpperCase())}`));
      expectEmpty(await gateway().get('/api/v1/users?username='));
      expectEmpty(await gateway().get(`/api/v1/users?username=${'y'.repeat(2000)}`));
    });

    it('DELETE removes a user: 200 {}; an unknown one is a 400', async () => {
      const name = await addUser(ctx.stack(), unique('with space & slash/'));
      const path = `/api/v1/users/${encodeURIComponent(name)}`;
      const removed = await gateway().delete(path);
      expect(removed.status).toBe(200);
      expect(removed.body).toEqual({});
      expectError(await gateway().delete(path), 400, 'BAD_REQUEST');
      expectError(await gateway().delete(`/api/v1/users/${'z'.repeat(5000)}`), 400, 'BAD_REQUEST');
    });

    it('POST /api/v1/db/clear removes every user and so their rides, with or without a body', async () => {
      const name = await addUser(ctx.stack());
      const rideId = await addRide(ctx.stack(), { created_by: name });
      const cleared = await usersInstance().call('POST', '/api/v1/db/clear');
      expect(cleared.status).toBe(200);
      expect(cleared.body).toEqual({});
      expectEmpty(await gateway().get('/api/v1/users'));
      expectEmpty(await gateway().get(`/api/v1/rides/${rideId}`));
      const withHeader = await usersInstance().call('POST', '/api/v1/db/clear', { raw: '', headers: { 'content-type': 'application/json' } });
      expect(withHeader.status).toBe(200);
    });

    it.each([
      ['PATCH', '/api/v1/users', 405, 'METHOD_NOT_ALLOWED'],
      ['POST', '/api/v1/users', 405, 'METHOD_NOT_ALLOWED'],
      ['DELETE', '/api/v1/users', 405, 'METHOD_NOT_ALLOWED'],
      ['GET', '/api/v1/users/someone', 405, 'METHOD_NOT_ALLOWED'],
      ['PUT', '/api/v1/users/someone', 405, 'METHOD_NOT_ALLOWED'],
      ['GET', '/api/v1/users/someone/else', 404, 'NOT_FOUND'],
    ])('%s %s: %i', async (method, path, status, code) => {
      const result = await gateway().call(method, path);
      expectError(result, status, code);
      if (status === 405) expect(result.headers.allow).toBeTypeOf('string');
    });

    it('db/clear and _count answer 405 to other methods, on the users instance', async () => {
      expectError(await usersInstance().get('/api/v1/db/clear'), 405, 'METHOD_NOT_ALLOWED');
      expectError(await usersInstance().call('PUT', '/api/v1/_count'), 405, 'METHOD_NOT_ALLOWED');
      expectError(await usersInstance().get('/api/v1/nothing'), 404, 'NOT_FOUND');
    });
  });
}
