/** The orchestrator's HTTP API (docs/database-api.md) and its console; other methods on these paths are a 405. */
import { TIME_BUDGET_HEADER, timeBudgetOf } from '../../shared/http/time-budget.ts';
import type { FastifyInstance } from 'fastify';
import type { FrontHandler } from '../../shared/http/front-door.ts';
import { roleOf } from '../../shared/http/auth.ts';
import { defineResource } from '../../shared/http/resource.ts';
import type { BackupEndpoint } from '../backup/BackupEndpoint.ts';
import type { ChangeSource } from './console/ClusterFeed.ts';
import { registerConsolePages } from './console/pages.ts';
import { registerClusterStream } from './console/stream.ts';
import type { DatabaseFrontend } from './DatabaseFrontend.ts';
import { parseSlaveCount } from './slave-count.ts';
import type { ProtocolGate } from './ProtocolGate.ts';
import type { SupervisorForwarder } from './SupervisorForwarder.ts';

export interface RouteDeps {
  database: DatabaseFrontend;
  listWorkerPids(): Promise<number[]>;
  crashMaster(): Promise<number>;
  crashSlave(): Promise<number>;
  scaling(): Promise<unknown>;
  cluster(): Promise<object>;
  /** Supervision events (only the supervising orchestrator has them): the cluster stream reads at once. */
  clusterChanges: ChangeSource;
  setDesiredSlaves(count: number): Promise<unknown>;
  /** MAX_SLAVES: the most slaves PUT /api/v1/scaling/slaves accepts. */
  maxSlaves: number;
  /** Crash and scaling calls on a standby go to the supervising orchestrator. */
  supervisorOnly: SupervisorForwarder;
  /** POST /api/v1/db/backup: a consistent copy of the database, streamed. */
  backup: BackupEndpoint;
  /** db calls reach only workers of this orchestrator's protocol (a rolling upgrade). */
  protocolGate: ProtocolGate;
}

export const READ_PATH = '/api/v1/db/read';
export const WRITE_PATH = '/api/v1/db/write';

/**
 * db/read and db/write, the calls nearly all traffic is: answered by the server's front door
 * (src/shared/http/front-door.ts) for ordinary requests, and by the same handlers through fastify
 * for the rest.
 */
export function databaseRoutes(database: DatabaseFrontend): Record<typeof READ_PATH | typeof WRITE_PATH, FrontHandler> {
  return {
    [READ_PATH]: async ({ body, role, requestId }) => database.read(body, { role, requestId }),
    [WRITE_PATH]: async ({ body, role, requestId, headers }) => database.write(body, { role, requestId }, timeBudgetOf(headers[TIME_BUDGET_HEADER])),
  };
}

export function registerRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const gate = deps.protocolGate;
  const front = databaseRoutes(deps.database);
  // The front door answers these only while the gate lets calls through (Orchestrator.ts); through
  // fastify they pass the gate, which during a rolling upgrade passes them on or holds them.
  defineResource(app, READ_PATH, {
    POST: (request, reply) => gate.handle(request, reply, 'read', undefined, () => front[READ_PATH]({ body: request.body, role: roleOf(request), requestId: request.id, headers: request.headers })),
  });
  defineResource(app, WRITE_PATH, {
    POST: (request, reply) => {
      const budgetMs = timeBudgetOf(request.headers[TIME_BUDGET_HEADER]);
      const arrived = performance.now();
      const deadline = budgetMs === undefined ? undefined : arrived + budgetMs;
      // A write held by the gate gets what is left of its budget.
      const left = () => (deadline === undefined ? undefined : Math.max(1, Math.round(deadline - performance.now())));
      return gate.handle(request, reply, 'write', deadline, () => deps.database.write(request.body, { role: roleOf(request), requestId: request.id }, left()));
    },
  });
  defineResource(app, '/api/v1/db/clear', {
    POST: (request, reply) =>
      gate.handle(request, reply, 'write', undefined, async () => {
        await deps.database.clear(request.id);
        return {};
      }),
  });
  defineResource(app, '/api/v1/db/backup', { POST: (_request, reply) => deps.backup.reply(reply) });
  defineResource(app, '/api/v1/worker/list', { GET: async () => deps.listWorkerPids() });
  const { supervisorOnly } = deps;
  defineResource(app, '/api/v1/crash/master', { POST: (request, reply) => supervisorOnly.handle(request, reply, async () => [await deps.crashMaster()]) });
  defineResource(app, '/api/v1/crash/slave', { POST: (request, reply) => supervisorOnly.handle(request, reply, async () => [await deps.crashSlave()]) });
  defineResource(app, '/api/v1/scaling', { GET: async () => deps.scaling() });
  defineResource(app, '/api/v1/scaling/slaves', {
    PUT: (request, reply) => supervisorOnly.handle(request, reply, () => deps.setDesiredSlaves(parseSlaveCount(request.body, deps.maxSlaves))),
  });
  defineResource(app, '/api/v1/cluster', { GET: async () => deps.cluster() });
  registerClusterStream(app, { status: () => deps.cluster(), changes: deps.clusterChanges });
  registerConsolePages(app);
}
