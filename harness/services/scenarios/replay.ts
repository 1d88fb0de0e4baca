/**
 * SPEC §8: the original grading's sequence, as far as the services go: a user and a ride dated
 * 21-08-2021 listed as upcoming (the clock is fixed in May 2020), areas sent as strings, POST
 * and DELETE calls without any body.
 */
import { describe, expect, it } from 'vitest';
import { AUG_2021, expectEmpty, PASSWORD, resetCounts, totalCount, type ScenarioContext } from '../scenario-helpers.ts';

export function replayScenarios(ctx: ScenarioContext): void {
  describe('replay of the original grading sequence', () => {
    it('runs from an empty database to a listed upcoming ride and back', async () => {
      const { gateway, users, rides } = ctx.stack();
      const users0 = users[0]!;
      expect((await users0.call('POST', '/api/v1/db/clear')).status).toBe(200);
      expect((await gateway.call('POST', '/api/v1/db/clear')).status).toBe(200);
      await resetCounts([...users, ...rides]);

      expect((await gateway.put('/api/v1/users', { username: 'sanjay', password: PASSWORD })).status).toBe(201);
      expect((await gateway.put('/api/v1/users', { username: 'nikhil', password: PASSWORD.toUpperCase() })).status).toBe(201);
      expect((await gateway.get('/api/v1/users')).body).toEqual(['nikhil', 'sanjay']);

      const created = await gateway.post('/api/v1/rides', { created_by: 'sanjay', timestamp: AUG_2021, source: '10', destination: '20' });
      expect(created.status).toBe(201);
      const rideId = Number(String(created.headers.location).split('/').at(-1));

      const upcoming = await gateway.get('/api/v1/rides?source=10&destination=20');
      expect(upcoming.status).toBe(200);
      expect(upcoming.body).toEqual([{ rideId, username: 'sanjay', timestamp: AUG_2021 }]);

      expect((await gateway.post(`/api/v1/rides/${rideId}`, { username: 'nikhil' })).status).toBe(200);
      expect((await gateway.get(`/api/v1/rides/${rideId}`)).body).toMatchObject({ rideId, created_by: 'sanjay', users: ['nikhil'], source: 10, destination: 20 });
      expect((await gateway.get('/api/v1/rides/count')).body).toEqual([1]);

      // No body and no Content-Type at all, as the grading scripts sent them.
      expect((await gateway.call('DELETE', `/api/v1/rides/${rideId}`)).status).toBe(200);
      expectEmpty(await gateway.get('/api/v1/rides?source=10&destination=20'));
      expect((await gateway.call('DELETE', '/api/v1/users/nikhil')).status).toBe(200);
      expect((await gateway.call('POST', '/api/v1/db/clear')).status).toBe(200);
      expect((await gateway.get('/api/v1/rides/count')).body).toEqual([0]);

      // users: 2 PUT, 1 list, 1 lookup (ride), 1 lookup (join), 1 DELETE; rides: 1+1+1+1+1+1+1+1.
      expect(await totalCount(users)).toBe(6);
      expect(await totalCount(rides)).toBe(8);
    });
  });
}
