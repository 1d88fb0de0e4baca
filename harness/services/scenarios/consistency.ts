/**
 * Several instances of each service on one database: whichever instance the gateway picks, a
 * call sees what an earlier call (answered 2xx by another instance) wrote.
 */
import { describe, expect, it } from 'vitest';
import { addRide, addUser, AUG_2021, expectEmpty, unique, type ScenarioContext } from '../scenario-helpers.ts';

export function consistencyScenarios(ctx: ScenarioContext): void {
  describe('consistency across instances', () => {
    it('a user created a moment ago, through any users instance, can create and join rides at once', async () => {
      for (let i = 0; i < 10; i += 1) {
        const creator = await addUser(ctx.stack(), unique('fresh'));
        const rider = await addUser(ctx.stack(), unique('fresh'));
        const rideId = await addRide(ctx.stack(), { created_by: creator });
        expect((await ctx.stack().gateway.post(`/api/v1/rides/${rideId}`, { username: rider })).status).toBe(200);
        expect((await ctx.stack().gateway.get(`/api/v1/rides/${rideId}`)).body).toMatchObject({ users: [rider] });
      }
    });

    it('a user removed through the users service is gone from the rides service at once', async () => {
      for (let i = 0; i < 10; i += 1) {
        const creator = await addUser(ctx.stack());
        const rideId = await addRide(ctx.stack(), { created_by: creator, timestamp: AUG_2021, source: 5, destination: 6 });
        expect((await ctx.stack().gateway.delete(`/api/v1/users/${creator}`)).status).toBe(200);
        expectEmpty(await ctx.stack().gateway.get(`/api/v1/rides/${rideId}`));
      }
    });
  });
}
