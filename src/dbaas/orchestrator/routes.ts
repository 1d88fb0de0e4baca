/** The orchestrator's HTTP API (docs/database-api.md) and its console; other methods on these paths are a 405. */
import { TIME_BUDGET_HEADER, timeBudgetOf } from '../../shared/http/time-budget.ts';
import type { FastifyInstance } from 'fastify';
import { roleOf } from '../../shared/http/auth.ts';
import { defineResource } from '../../shared/http/resource.ts';
import type { BackupEndpoint } from '../backup/BackupEndpoint.ts';
import type { ChangeSource } from './console/ClusterFeed.ts';
import { registerConsolePages } from './console/pages.ts';
import { registerClusterStream } from './console/stream.ts';
import type { DatabaseFrontend } from './DatabaseFrontend.ts';
import { parseSlaveCount } from './slaveCount.ts';
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

export function registerRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const gate = deps.protocolGate;
  defineResource(app, '/api/v1/db/read', { POST: (request, reply) => gate.handle(request, reply, 'read', undefined, () => deps.database.read(request.body, roleOf(request))) });
  defineResource(app, '/api/v1/db/write', {
    POST: (request, reply) => {
      const budgetMs = timeBudgetOf(request.headers[TIME_BUDGET_HEADER]);
      const arrived = performance.now();
      const deadline = budgetMs === undefined ? undefined : arrived + budgetMs;
      // A write held by the gate gets what is left of its budget.
      const left = () => (deadline === undefined ? undefined : Math.max(1, Math.round(deadline - performance.now())));
      return gate.handle(request, reply, 'write', deadline, () => deps.database.write(request.body, roleOf(request), left()));
    },
  });
  defineResource(app, '/api/v1/db/clear', {
    POST: (request, reply) =>
      gate.handle(request, reply, 'write', undefined, async () => {
        await deps.database.clear();
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
