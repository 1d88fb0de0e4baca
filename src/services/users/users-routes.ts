/** SPEC §2: the users API. Handlers validate, call the store and throw coded errors. */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BadRequestError } from '../../shared/errors.ts';
import { defineResource } from '../../shared/http/resource.ts';
import { announceNextPage, pageSize, queryValue } from '../http/paging.ts';
import { MAX_USERNAME_LENGTH } from '../http/validation.ts';
import { parseNewUser } from './user-body.ts';
import type { UsersStore } from './users-store.ts';

function couldExist(username: string): boolean {
  return username.length > 0 && username.length <= MAX_USERNAME_LENGTH;
}

/** `?after=NAME`: the page after that name (src/services/http/paging.ts). */
function afterName(request: FastifyRequest): string | undefined {
  const after = queryValue(request, 'after');
  if (after !== undefined && !couldExist(after)) throw new BadRequestError(`after: a username of 1 to ${MAX_USERNAME_LENGTH} characters`);
  return after;
}

async function listPage(request: FastifyRequest, reply: FastifyReply, store: UsersStore): Promise<unknown> {
  const size = pageSize(request);
  const { names, more } = await store.list(size, afterName(request));
  const last = names.at(-1);
  if (more && last !== undefined) announceNextPage(request, reply, last, size);
  return sendNames(reply, names);
}

async function sendNames(reply: FastifyReply, names: string[]): Promise<unknown> {
  if (names.length === 0) return reply.code(204).send();
  return reply.code(200).send(names);
}

export function registerUsersRoutes(app: FastifyInstance, store: UsersStore): void {
  defineResource(app, '/api/v1/users', {
    PUT: async (request, reply) => {
      const user = parseNewUser(request.body);
      await store.add(user);
      return reply.code(201).send({});
    },
    GET: async (request, reply) => {
      // `?username=NAME` lets the rides service check one user without listing everyone.
      const filter = queryValue(request, 'username');
      if (filter === undefined) return listPage(request, reply, store);
      const found = couldExist(filter) && (await store.exists(filter));
      return sendNames(reply, found ? [filter] : []);
    },
  });

  defineResource(app, '/api/v1/users/:username', {
    DELETE: async (request) => {
      const { username } = request.params as { username: string };
      const removed = couldExist(username) && (await store.remove(username));
      if (!removed) throw new BadRequestError('no such user');
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
