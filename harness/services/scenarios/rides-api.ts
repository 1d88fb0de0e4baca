/** SPEC §3, every row of the rides table, through the gateway. */
import { describe, expect, it } from 'vitest';
import { addRide, addUser, AUG_2021, expectEmpty, expectError, unique, type ScenarioContext } from '../scenario-helpers.ts';

export function ridesApiScenarios(ctx: ScenarioContext): void {
  describe('rides API', () => {
    const gateway = () => ctx.stack().gateway;
    const stack = () => ctx.stack();
    const ridesInstance = () => ctx.stack().rides[0]!;

    it('POST creates a ride: 201 {} and Location: /api/v1/rides/{rideId}', async () => {
      const creator = await addUser(stack());
      const result = await gateway().post('/api/v1/rides', { created_by: creator, timestamp: AUG_2021, source: '3', destination: 7 });
      expect(result.status).toBe(201);
      expect(result.body).toEqual({});
      const details = await gateway().get(String(result.headers.location));
      expect(details.status).toBe(200);
      expect(details.body).toMatchObject({ created_by: creator, users: [], timestamp: AUG_2021, source: 3, destination: 7 });
    });

    it.each([
      ['an unknown creator', { created_by: 'nobody-at-all' }],
      ['a malformed timestamp', { timestamp: '21-08-2021 00:00:00' }],
      ['an impossible date', { timestamp: '29-02-2021:00-00-00' }],
      ['hour 24', { timestamp: '21-08-2021:00-00-24' }],
      ['a past timestamp', { timestamp: '14-05-2020:00-00-00' }],
      ['area 0', { source: 0 }],
      ['area 199', { destination: 199 }],
      ['area "abc"', { source: 'abc' }],
      ['area 3.5', { source: 3.5 }],
      ['source = destination', { source: 7, destination: '7' }],
      ['an extra field', { seats: 3 }],
      ['a missing destination', { destination: undefined }],
      ['a numeric timestamp', { timestamp: 1629504000 }],
    ])('POST with %s: 400', async (_label, change) => {
      const creator = await addUser(stack());
      const body = { created_by: creator, timestamp: AUG_2021, source: 3, destination: 7, ...change };
      expectError(await gateway().post('/api/v1/rides', body), 400, 'BAD_REQUEST');
    });

    it.each([
      ['malformed JSON', '{"created_by": '],
      ['a 40-digit area', '{"created_by": "x", "timestamp": "21-08-2021:00-00-00", "source": 1234567890123456789012345678901234567890, "destination": 7}'],
      ['no body', ''],
    ])('POST with %s: 400', async (_label, raw) => {
      expectError(await gateway().call('POST', '/api/v1/rides', { raw, headers: { 'content-type': 'application/json' } }), 400, 'BAD_REQUEST');
    });

    it('GET ?source&destination lists upcoming rides earliest first, past ones left out', async () => {
      const creator = await addUser(stack());
      const late = await addRide(stack(), { created_by: creator, timestamp: '01-01-2030:00-00-10', source: 11, destination: 12 });
      const early = await addRide(stack(), { created_by: creator, timestamp: '01-01-2030:00-00-09', source: '11', destination: '12' });
      await addRide(stack(), { created_by: creator, timestamp: '01-01-2030:00-00-08', source: 12, destination: 11 });
      // A ride from before the service clock, stored directly: listed nowhere, counted.
      await ctx.db().write({ op: 'insert', table: 'rides', values: { created_by: creator, timestamp: 1_500_000_000, source: 11, destination: 12 } });
      const result = await gateway().get('/api/v1/rides?source=11&destination=12');
      expect(result.status).toBe(200);
      expect(result.body).toEqual([
        { rideId: early, username: creator, timestamp: '01-01-2030:00-00-09' },
        { rideId: late, username: creator, timestamp: '01-01-2030:00-00-10' },
      ]);
    });

    it('GET lists nothing as 204; a bad route is a 400', async () => {
      expectEmpty(await gateway().get('/api/v1/rides?source=150&destination=151'));
      for (const query of [
        '',
        '?source=1',
        '?destination=2',
        '?source=0&destination=2',
        '?source=1&destination=199',
        '?source=a&destination=2',
        '?source=4&destination=4',
        '?source=3.5&destination=2',
      ]) {
        expectError(await gateway().get(`/api/v1/rides${query}`), 400, 'BAD_REQUEST');
      }
    });

    it('GET /{rideId} shows the ride with area names; 204 when absent; 400 when not a positive integer', async () => {
      const creator = await addUser(stack());
      const rider = await addUser(stack());
      const rideId = await addRide(stack(), { created_by: creator, source: 1, destination: 198 });
      expect((await gateway().post(`/api/v1/rides/${rideId}`, { username: rider })).status).toBe(200);
      const result = await gateway().get(`/api/v1/rides/${rideId}`);
      expect(result.status).toBe(200);
      expect(result.body).toEqual({
        rideId,
        created_by: creator,
        users: [rider],
        timestamp: AUG_2021,
        source: 1,
        destination: 198,
        sourceName: 'Kempegowda Ward',
        destinationName: 'Hemmigepura',
      });
      expectEmpty(await gateway().get('/api/v1/rides/999999999'));
      expectEmpty(await gateway().get(`/api/v1/rides/${'9'.repeat(40)}`));
      for (const id of ['abc', '0', '-1', '1.5']) expectError(await gateway().get(`/api/v1/rides/${id}`), 400, 'BAD_REQUEST');
    });

    it('POST /{rideId} joins: 200 {}; 204 no ride; 400 unknown user, creator, already joined, bad body', async () => {
      const creator = await addUser(stack());
      const rider = await addUser(stack());
      const rideId = await addRide(stack(), { created_by: creator });
      const joined = await gateway().post(`/api/v1/rides/${rideId}`, { username: rider });
      expect(joined.status).toBe(200);
      expect(joined.body).toEqual({});
      expectEmpty(await gateway().post('/api/v1/rides/999999999', { username: rider }));
      expectError(await gateway().post(`/api/v1/rides/${rideId}`, { username: 'nobody-at-all' }), 400, 'BAD_REQUEST');
      expectError(await gateway().post(`/api/v1/rides/${rideId}`, { username: creator }), 400, 'BAD_REQUEST');
      expectError(await gateway().post(`/api/v1/rides/${rideId}`, { username: rider }), 400, 'BAD_REQUEST');
      expectError(await gateway().post(`/api/v1/rides/${rideId}`, {}), 400, 'BAD_REQUEST');
      expectError(await gateway().post(`/api/v1/rides/${rideId}`, { username: rider, extra: 1 }), 400, 'BAD_REQUEST');
      expectError(await gateway().call('POST', `/api/v1/rides/${rideId}`, { raw: '{nope', headers: { 'content-type': 'application/json' } }), 400, 'BAD_REQUEST');
      expectError(await gateway().post('/api/v1/rides/abc', { username: rider }), 400, 'BAD_REQUEST');
    });

    it('DELETE /{rideId}: 200 {} and its seats go; 400 when there is no such ride', async () => {
      const creator = await addUser(stack());
      const rider = await addUser(stack());
      const rideId = await addRide(stack(), { created_by: creator });
      await gateway().post(`/api/v1/rides/${rideId}`, { username: rider });
      const removed = await gateway().call('DELETE', `/api/v1/rides/${rideId}`);
      expect(removed.status).toBe(200);
      expect(removed.body).toEqual({});
      expectEmpty(await gateway().get(`/api/v1/rides/${rideId}`));
      expectError(await gateway().delete(`/api/v1/rides/${rideId}`), 400, 'BAD_REQUEST');
      expectError(await gateway().delete('/api/v1/rides/abc'), 400, 'BAD_REQUEST');
      expectError(await gateway().delete(`/api/v1/rides/${'9'.repeat(40)}`), 400, 'BAD_REQUEST');
    });

    it('GET /count counts every stored ride; db/clear empties rides and seats but keeps users; ids are never reused', async () => {
      const creator = await addUser(stack());
      const before = await addRide(stack(), { created_by: creator });
      const count = await gateway().get('/api/v1/rides/count');
      expect(count.status).toBe(200);
      expect((count.body as number[])[0]).toBeGreaterThanOrEqual(1);
      const cleared = await ridesInstance().post('/api/v1/db/clear');
      expect(cleared.status).toBe(200);
      expect(cleared.body).toEqual({});
      expect((await gateway().get('/api/v1/rides/count')).body).toEqual([0]);
      expect((await gateway().get(`/api/v1/users?username=${creator}`)).status).toBe(200);
      const after = await addRide(stack(), { created_by: creator });
      expect(after).toBeGreaterThan(before);
      expect((await gateway().get('/api/v1/rides/count')).body).toEqual([1]);
    });

    it('a removed user takes their rides and their seats in other rides with them', async () => {
      const leaving = await addUser(stack());
      const staying = await addUser(stack());
      const ownRide = await addRide(stack(), { created_by: leaving });
      const otherRide = await addRide(stack(), { created_by: staying });
      expect((await gateway().post(`/api/v1/rides/${otherRide}`, { username: leaving })).status).toBe(200);
      const countBefore = ((await gateway().get('/api/v1/rides/count')).body as number[])[0] as number;
      expect((await gateway().delete(`/api/v1/users/${leaving}`)).status).toBe(200);
      expectEmpty(await gateway().get(`/api/v1/rides/${ownRide}`));
      expect((await gateway().get(`/api/v1/rides/${otherRide}`)).body).toMatchObject({ users: [] });
      expect((await gateway().get('/api/v1/rides/count')).body).toEqual([countBefore - 1]);
      expectError(await gateway().post(`/api/v1/rides/${otherRide}`, { username: leaving }), 400, 'BAD_REQUEST');
    });

    it.each([
      ['PUT', '/api/v1/rides', 405, 'METHOD_NOT_ALLOWED'],
      ['DELETE', '/api/v1/rides', 405, 'METHOD_NOT_ALLOWED'],
      ['PATCH', '/api/v1/rides/1', 405, 'METHOD_NOT_ALLOWED'],
      ['PUT', '/api/v1/rides/1', 405, 'METHOD_NOT_ALLOWED'],
      ['POST', '/api/v1/rides/count', 405, 'METHOD_NOT_ALLOWED'],
      ['GET', '/api/v1/rides/1/members', 404, 'NOT_FOUND'],
      ['GET', '/api/v1/nothing', 404, 'NOT_FOUND'],
      ['GET', '/', 404, 'NOT_FOUND'],
    ])('%s %s: %i', async (method, path, status, code) => {
      expectError(await gateway().call(method, path), status, code);
    });

    it('GET /api/v1/db/clear on a rides instance: 405', async () => {
      expectError(await ridesInstance().call('GET', '/api/v1/db/clear'), 405, 'METHOD_NOT_ALLOWED');
    });

    it('a creator name the users service cannot hold is a 400 before any lookup', async () => {
      expectError(await gateway().post('/api/v1/rides', { created_by: unique('x').repeat(20_000), timestamp: AUG_2021, source: 1, destination: 2 }), 400, 'BAD_REQUEST');
    });
  });
}
