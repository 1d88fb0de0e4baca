/** SPEC §3: the rides API. Handlers validate, ask, store, and throw coded errors. */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BadRequestError } from '../../shared/errors.ts';
import { defineResource } from '../../shared/http/resource.ts';
import type { AreaNames } from './area-names.ts';
import type { Clock } from './clock.ts';
import { announceNextPage, pageSize, queryValue } from '../http/paging.ts';
import { parseJoin, parseNewRide, parseRideCursor, parseRideId, parseRoute, rideCursorOf } from './ride-input.ts';
import { listEntry, rideDetails } from './ride-views.ts';
import type { RidesStore } from './rides-store.ts';
import type { UsersDirectory } from './users-directory.ts';

export interface RidesRoutesDeps {
  store: RidesStore;
  users: UsersDirectory;
  clock: Clock;
  areaNames: AreaNames;
}

function rideIdParam(request: FastifyRequest): number | undefined {
  return parseRideId((request.params as { rideId: string }).rideId);
}

const noContent = (reply: FastifyReply): FastifyReply => reply.code(204).send();

async function join(deps: RidesRoutesDeps, request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const rideId = rideIdParam(request);
  const username = parseJoin(request.body);
  const ride = rideId === undefined ? undefined : await deps.store.find(rideId);
  if (ride === undefined) return noContent(reply);
  if (ride.createdBy === username) throw new BadRequestError('the creator of a ride cannot join it');
  if (!(await deps.users.exists(username))) throw new BadRequestError('unknown user');
  const outcome = await deps.store.join(ride.rideId, username);
  if (outcome === 'already-joined') throw new BadRequestError('this user has already joined the ride');
  if (outcome === 'missing-ride-or-user') {
    // A race with a delete: tell which side went away.
    if ((await deps.store.find(ride.rideId)) === undefined) return noContent(reply);
    throw new BadRequestError('unknown user');
  }
  return {};
}

export function registerRidesRoutes(app: FastifyInstance, deps: RidesRoutesDeps): void {
  const { store, users, clock, areaNames } = deps;

  defineResource(app, '/api/v1/rides', {
    POST: async (request, reply) => {
      const ride = parseNewRide(request.body, clock);
      if (!(await users.exists(ride.createdBy))) throw new BadRequestError('unknown user');
      const rideId = await store.create(ride);
      return reply.code(201).header('location', `/api/v1/rides/${rideId}`).send({});
    },
    GET: async (request, reply) => {
      const route = parseRoute(request.query);
      const size = pageSize(request);
      const { rides, more } = await store.upcoming(route, clock(), size, parseRideCursor(queryValue(request, 'after')));
      const last = rides.at(-1);
      if (more && last !== undefined) announceNextPage(request, reply, rideCursorOf(last), size);
      if (rides.length === 0) return noContent(reply);
      return rides.map(listEntry);
    },
  });

  defineResource(app, '/api/v1/rides/count', {
    GET: async () => [await store.count()],
  });

  defineResource(app, '/api/v1/rides/:rideId', {
    GET: async (request, reply) => {
      const rideId = rideIdParam(request);
      const ride = rideId === undefined ? undefined : await store.find(rideId);
      if (ride === undefined) return noContent(reply);
      return rideDetails(ride, await store.members(ride.rideId), areaNames);
    },
    POST: (request, reply) => join(deps, request, reply),
    DELETE: async (request) => {
      const rideId = rideIdParam(request);
      const removed = rideId !== undefined && (await store.remove(rideId));
      if (!removed) throw new BadRequestError('no such ride');
      return {};
    },
  });

  // An operator's action (docs/security.md): the caller's own token goes on to the database
  // service, which wants the admin's; the instance's service token could not do it.
  defineResource(app, '/api/v1/db/clear', {
    POST: async (request) => {
      await store.removeAll({ callerAuthorization: request.headers.authorization });
      return {};
    },
  });
}
