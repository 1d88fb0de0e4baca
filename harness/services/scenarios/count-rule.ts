/** SPEC §4's `_count` rule and SPEC §3's "exactly one users request per creation and per join". */
import { describe, expect, it } from 'vitest';
import { addRide, addUser, AUG_2021, countOf, PASSWORD, resetCounts, totalCount, unique, type ScenarioContext } from '../scenario-helpers.ts';

export function countRuleScenarios(ctx: ScenarioContext): void {
  describe('the _count rule', () => {
    const gateway = () => ctx.stack().gateway;
    const usersInstance = () => ctx.stack().users[0]!;
    const ridesInstance = () => ctx.stack().rides[0]!;

    it('users: every request on /api/v1/users… counts, failed, 404 and 405 included; _count and db/clear do not', async () => {
      const reset = await usersInstance().delete('/api/v1/_count');
      expect(reset.status).toBe(200);
      expect(reset.body).toEqual({});
      expect(await countOf(usersInstance())).toBe(0);
      await usersInstance().put('/api/v1/users', { username: unique('count'), password: PASSWORD }); // 201
      await usersInstance().put('/api/v1/users', { username: 'x', password: 'short' }); // 400
      await usersInstance().get('/api/v1/users'); // 200
      await usersInstance().call('PATCH', '/api/v1/users'); // 405
      await usersInstance().get('/api/v1/users/a/b'); // 404
      await usersInstance().call('PUT', '/api/v1/users', { raw: '{', headers: { 'content-type': 'application/json' } }); // 400 JSON
      await usersInstance().get('/api/v1/_count');
      await usersInstance().call('POST', '/api/v1/db/clear');
      await usersInstance().get('/health');
      await usersInstance().get('/api/v1/nothing');
      expect(await countOf(usersInstance())).toBe(6);
    });

    it('rides: every request on /api/v1/rides… counts, GET /api/v1/rides/count included', async () => {
      const creator = await addUser(ctx.stack());
      await ridesInstance().delete('/api/v1/_count');
      await ridesInstance().post('/api/v1/rides', { created_by: creator, timestamp: AUG_2021, source: 1, destination: 2 }); // 201
      await ridesInstance().post('/api/v1/rides', { created_by: creator }); // 400
      await ridesInstance().get('/api/v1/rides?source=1&destination=2'); // 200
      await ridesInstance().get('/api/v1/rides/count'); // 200
      await ridesInstance().call('PUT', '/api/v1/rides'); // 405
      await ridesInstance().get('/api/v1/rides/1/x'); // 404
      await ridesInstance().get('/api/v1/_count');
      await ridesInstance().post('/api/v1/db/clear');
      await ridesInstance().call('PUT', '/api/v1/db/clear'); // 405 off the prefix: not counted
      expect(await countOf(ridesInstance())).toBe(6);
    });

    it('a ride creation and a join ask the users service exactly once each, through the gateway; nothing else asks', async () => {
      const users = () => totalCount(ctx.stack().users);
      const creator = await addUser(ctx.stack());
      const rider = await addUser(ctx.stack());
      await resetCounts(ctx.stack().users);
      const rideId = await addRide(ctx.stack(), { created_by: creator });
      expect(await users()).toBe(1);
      expect((await gateway().post(`/api/v1/rides/${rideId}`, { username: rider })).status).toBe(200);
      expect(await users()).toBe(2);
      await gateway().post('/api/v1/rides', { created_by: creator, timestamp: 'not a time', source: 1, destination: 2 });
      await gateway().get(`/api/v1/rides/${rideId}`);
      await gateway().get('/api/v1/rides?source=3&destination=7');
      await gateway().get('/api/v1/rides/count');
      await gateway().post(`/api/v1/rides/${rideId}`, { username: creator });
      await gateway().delete(`/api/v1/rides/${rideId}`);
      expect(await users()).toBe(2);
    });
  });
}
