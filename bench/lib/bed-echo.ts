/**
 * The bare broker round trip across the hosts of a bed: bench/lib/rpc-echo.ts's echo (a classic
 * queue, replies by direct reply-to) with its replier running inside the db host and connected to
 * that host's RabbitMQ node, as the workers are, and its caller connected to the users host's
 * node through the bed bridge standing in users, as the client's requests reach users'
 * orchestrator: each call crosses between the two nodes as a db/read through users' orchestrator
 * does, with none of the database's layers.
 */
import { randomUUID } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import type { BedBridge } from '../../harness/hosts/bed-faults/bed-bridge.ts';
import type { TestBed } from '../../harness/hosts/TestBed.ts';
import { PRIVATE_USER, PRIVATE_VHOST } from '../../src/infra/rabbitmq.ts';
import { isAlive, terminate } from '../../src/shared/processes.ts';
import { sleep } from '../../src/shared/timeout.ts';
import { openEchoCaller, type EchoCaller } from './echo-caller.ts';
import { runLoad, type LoadResult } from './load.ts';
import { ECHO_BODY } from './rpc-echo.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const REPLIER = path.join(REPO, 'bench/lib/echo-replier.ts');
const AMQP_PORT = 5672;
const READY_WITHIN_MS = 60_000;

export interface BedEchoOptions {
  bed: TestBed;
  password: string;
  replierHost: string;
  /** A bridge standing in the caller's host, and that host. */
  callerBridge: BedBridge;
  callerHost: string;
}

export class BedEcho {
  private constructor(
    private readonly replier: ChildProcess,
    private readonly caller: EchoCaller,
  ) {}

  static async open(options: BedEchoOptions): Promise<BedEcho> {
    const credentials = `${PRIVATE_USER}:${encodeURIComponent(options.password)}`;
    const queue = `bench-echo-classic-${randomUUID()}`;
    const replierUrl = `amqp://${credentials}@${options.replierHost}:${AMQP_PORT}/${PRIVATE_VHOST}`;
    const replier = options.bed.exec(options.replierHost, ['node', '--import', 'tsx', REPLIER, replierUrl, queue, 'classic'], { cwd: REPO, hostname: false, stdio: ['ignore', 'ignore', 'inherit'] });
    const callerUrl = `amqp://${credentials}@127.0.0.1:${await options.callerBridge.port(options.callerHost, AMQP_PORT)}/${PRIVATE_VHOST}`;
    try {
      await queueDeclared(callerUrl, queue, replier);
      return new BedEcho(replier, await openEchoCaller(callerUrl, queue, 'direct reply-to'));
    } catch (error) {
      replier.kill('SIGKILL');
      throw error;
    }
  }

  measure(concurrency: number, requests: number): Promise<LoadResult> {
    return runLoad({ label: 'bare broker echo', concurrency, requests, task: () => this.caller.call(ECHO_BODY).then((reply) => reply !== undefined) });
  }

  async close(): Promise<void> {
    await this.caller.close().catch(() => undefined);
    const pid = this.replier.pid as number;
    await terminate({ signal: (signal) => this.replier.kill(signal), alive: () => this.replier.exitCode === null && this.replier.signalCode === null && isAlive(pid), graceMs: 5000 });
  }
}

/** The replier declares its queue once connected: a message sent before that would be dropped unrouted. */
async function queueDeclared(url: string, queue: string, replier: ChildProcess): Promise<void> {
  const connection = await amqp.connect(url);
  try {
    const deadline = Date.now() + READY_WITHIN_MS;
    for (;;) {
      if (replier.exitCode !== null) throw new Error(`the echo replier exited (${replier.exitCode}) before its queue was declared`);
      const channel = await connection.createChannel();
      channel.on('error', () => undefined);
      const found = await channel.checkQueue(queue).then(
        () => true,
        () => false,
      );
      if (found) {
        await channel.close().catch(() => undefined);
        return;
      }
      if (Date.now() > deadline) throw new Error(`the echo replier's queue was not declared within ${READY_WITHIN_MS} ms`);
      await sleep(200);
    }
  } finally {
    await connection.close().catch(() => undefined);
  }
}
