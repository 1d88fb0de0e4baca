/**
 * Across hosts, the database host's orchestrator supervises: its workers start on its host, and
 * the queues they declare live on its RabbitMQ node (classic queues stay on the node that declared
 * them). So the other hosts start their orchestrators, whose RPC clients declare the same queues
 * on their own nodes, once it answers ready, or after DATABASE_HOST_WAIT_MS without it (the
 * database host may be down: this host's services and gateway still come up). It also counts as
 * up when it is not ready only because its restart from files waits for another host's file
 * (restart-host.ts): this host's agent is what it waits for.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { boundedAgent } from '../shared/http/bounded-agent.ts';
import { RESTART_REFUSED } from '../dbaas/supervisor/restart-refused.ts';
import { READY_PATH } from '../shared/http/health.ts';
import type { Logger } from '../shared/logger.ts';
import { monotonicNow } from '../shared/monotonic.ts';

export const DATABASE_HOST_WAIT_MS = 300_000;
const PROBE_TIMEOUT_MS = 2000;
const PROBE_INTERVAL_MS = 1000;

async function isReady(orchestratorUrl: string): Promise<boolean> {
  try {
    const response = await request(new URL(READY_PATH, orchestratorUrl), { dispatcher: boundedAgent(PROBE_TIMEOUT_MS), signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    if (response.statusCode === 200) {
      await response.body.dump();
      return true;
    }
    const body = (await response.body.json().catch(() => undefined)) as { reason?: unknown } | undefined;
    return typeof body?.reason === 'string' && body.reason.startsWith(RESTART_REFUSED);
  } catch {
    return false;
  }
}

/** Resolves true once the orchestrator answers ready, false when the wait ran out (or `stopping` says so). */
export async function waitForDatabaseHost(orchestratorUrl: string, logger: Logger, stopping: () => boolean, waitMs = DATABASE_HOST_WAIT_MS): Promise<boolean> {
  const began = monotonicNow();
  logger.info({ orchestrator: orchestratorUrl }, 'waiting for the database host\u2019s orchestrator to be ready before starting this host\u2019s');
  while (monotonicNow() - began < waitMs && !stopping()) {
    if (await isReady(orchestratorUrl)) {
      logger.info({ orchestrator: orchestratorUrl, ms: monotonicNow() - began }, 'the database host\u2019s orchestrator is ready');
      return true;
    }
    await sleep(PROBE_INTERVAL_MS);
  }
  if (!stopping()) logger.warn({ orchestrator: orchestratorUrl, waitMs }, 'the database host\u2019s orchestrator is not ready; starting this host\u2019s orchestrator anyway');
  return false;
}
