/** The orchestrator's HTTP API (docs/database-api.md). */
import type { FastifyInstance } from 'fastify';
import type { DatabaseFrontend } from './DatabaseFrontend.ts';

export interface RouteDeps {
  database: DatabaseFrontend;
  listWorkerPids(): Promise<number[]>;
  crashMaster(): Promise<number>;
  crashSlave(): Promise<number>;
  scaling(): Promise<unknown>;
}

export function registerRoutes(app: FastifyInstance, deps: RouteDeps): void {
  app.post('/api/v1/db/read', async (request) => deps.database.read(request.body));
  app.post('/api/v1/db/write', async (request) => deps.database.write(request.body));
  app.post('/api/v1/db/clear', async () => {
    await deps.database.clear();
    return {};
  });
  app.get('/api/v1/worker/list', async () => deps.listWorkerPids());
  app.post('/api/v1/crash/master', async () => [await deps.crashMaster()]);
  app.post('/api/v1/crash/slave', async () => [await deps.crashSlave()]);
  app.get('/api/v1/scaling', async () => deps.scaling());
  app.get('/health', async () => ({ status: 'ok' }));
}
