/**
 * Starts the servers every test file shares. ZooKeeper is always a private instance with tickTime
 * 200 ms, so tests can use sessions as short as 400 ms and never see another user's znodes.
 * RabbitMQ is always a private node too: a machine's own broker on 5672 is shared with whatever
 * else runs there, and one that stopped answering mid-run (seen here: it accepted connections and
 * never completed a handshake again) failed every later file that needs a broker. TEST_AMQP_URL /
 * TEST_ZK_CONNECT point at other servers.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { ensureRabbitMq, ensureZooKeeper } from '../src/infra/servers.ts';
import { createLogger } from '../src/shared/logger.ts';
import type {} from './inject.ts';

interface Started {
  addresses: { zkConnect: string; amqpUrl: string };
  teardown: () => Promise<void>;
  users: number;
}

/**
 * The run's servers, shared by every project of vitest.config.ts: each project runs the global
 * setup (the root too), all in vitest's own process, and one pair of servers serves them all. Kept
 * on globalThis because each project loads this module apart; the last teardown stops them.
 */
const SHARED = Symbol.for('rideshare.test-servers');
type Holder = { [SHARED]?: Promise<Started> };

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const holder = globalThis as Holder;
  holder[SHARED] ??= startServers();
  const started = await holder[SHARED];
  started.users += 1;
  project.provide('zkConnect', started.addresses.zkConnect);
  project.provide('amqpUrl', started.addresses.amqpUrl);
  return async () => {
    started.users -= 1;
    if (started.users > 0) return;
    delete holder[SHARED];
    await started.teardown();
  };
}

async function startServers(): Promise<Started> {
  const logger = createLogger('test-servers', process.env.LOG_LEVEL ?? 'warn');
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'rideshare-test-'));
  // allSettled, not all: a server still booting when the other fails must be stopped too.
  const results = await Promise.allSettled([
    ensureZooKeeper({ configuredConnect: process.env.TEST_ZK_CONNECT, dataDir, logger, tickMs: 200, alwaysPrivate: true }),
    ensureRabbitMq({ configuredUrl: process.env.TEST_AMQP_URL, dataDir, logger, alwaysPrivate: true }),
  ]);
  const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const teardown = async () => {
    for (const server of started) await server.stop().catch((err: unknown) => logger.error({ err }, 'stop failed'));
    await rm(dataDir, { recursive: true, force: true });
  };
  const [zk, rabbit] = results;
  if (zk?.status !== 'fulfilled' || rabbit?.status !== 'fulfilled') {
    await teardown();
    const failed = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
    throw failed.length === 1 ? failed[0] : new AggregateError(failed, failed.map((e) => e.message).join('\n'));
  }
  // A run stopped by a signal must take its private servers with it: exiting runs the exit hooks
  // that kill their process groups (src/shared/processes.ts), which a signal's default death skips.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => process.exit(128 + (os.constants.signals[signal] ?? 0)));
  }
  return { addresses: { zkConnect: zk.value.address, amqpUrl: rabbit.value.address }, teardown, users: 0 };
}
