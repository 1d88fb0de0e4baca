/**
 * The step that makes a RabbitMQ node rejoined blank a member of the stream coordinator
 * (src/infra/stream-coordinator.ts), run against a private node of its own: the Erlang expression
 * is evaluated by the node's `rabbitmqctl eval` exactly as a host's start runs it. One node has no
 * peers, so what it can show is the expression running and the two answers that end the wait: no
 * coordinator before any stream was used, a member once one was. The peers' side (a former self
 * removed, the leader asked to add the node) is the test bed's: the soak's master-host-crash-wiped.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../../src/infra/rabbitmq.ts';
import { rabbitmqctl, type NodeCli } from '../../src/infra/rabbit-membership.ts';
import { ensureRabbitMq, type ServerHandle } from '../../src/infra/servers.ts';
import { coordinatorJoinStep, joinStreamCoordinator, stepOf } from '../../src/infra/stream-coordinator.ts';
import { createLogger } from '../../src/shared/logger.ts';

const logger = createLogger('stream-coordinator-test', process.env.LOG_LEVEL ?? 'error');

describe('the answers of a step toward the stream coordinator', () => {
  it('names each step the expression answers, and anything else unavailable', () => {
    expect(stepOf('member\n')).toBe('member');
    expect(stepOf('no_coordinator')).toBe('no_coordinator');
    expect(stepOf('removed_former_self')).toBe('removed_former_self');
    expect(stepOf('asked_to_join')).toBe('asked_to_join');
    expect(stepOf('{unavailable,{timeout,{rabbit_stream_coordinator,rabbit@rides}}}')).toBe('unavailable');
    expect(stepOf('Error: unable to perform an operation on node')).toBe('unavailable');
  });
});

describe('a step toward the stream coordinator on a real node', () => {
  let dataDir: string;
  let rabbit: ServerHandle;
  let cli: NodeCli;
  let node: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'rs-stream-coordinator-'));
    rabbit = await ensureRabbitMq({ dataDir, logger, alwaysPrivate: true });
    const dir = path.join(dataDir, 'servers', 'rabbitmq');
    const logName = (await readdir(path.join(dir, 'log'))).find((name) => name.endsWith('.log') && !name.endsWith('_upgrade.log'));
    node = (logName ?? '').replace(/\.log$/, '');
    const env = [`PATH=${process.env.PATH ?? '/usr/bin:/bin'}`, `HOME=${path.join(dir, 'home')}`, `RABBITMQ_CONF_ENV_FILE=${path.join(dir, 'rabbitmq-env.conf')}`];
    cli = (tool, other = node) => ['env', '-i', ...env, path.join(BIN, tool), '-n', other];
  }, 90_000);

  afterAll(async () => {
    await rabbit?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }, 30_000);

  it('answers no coordinator before any stream was used, then member once one was', async () => {
    expect(node).toMatch(/@/);
    expect((await rabbitmqctl(cli, node, ['eval', coordinatorJoinStep()], 20_000)).trim()).toBe('no_coordinator');
    const connection = await amqp.connect(rabbit.address);
    try {
      const channel = await connection.createChannel();
      await channel.assertQueue('coordinator-test.log', { durable: true, arguments: { 'x-queue-type': 'stream' } });
    } finally {
      await connection.close();
    }
    expect((await rabbitmqctl(cli, node, ['eval', coordinatorJoinStep()], 20_000)).trim()).toBe('member');
    // The host's wait ends at once on a member.
    const began = Date.now();
    await joinStreamCoordinator(cli, node, logger);
    expect(Date.now() - began).toBeLessThan(20_000);
  }, 90_000);
});
