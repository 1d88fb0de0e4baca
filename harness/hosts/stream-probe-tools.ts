/**
 * What stream-probe.ts does with a bed and its servers: runs stream-client.ts tasks inside a host
 * (to their end, or in the background while a fault is made), reads where a queue's leader and
 * replicas are, waits for the cluster to run every node again, and sums figures up.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { rabbitNodeName } from '../../src/infra/rabbitmq-cluster-node.ts';
import type { BedServers } from './bed-servers.ts';
import type { TestBed } from './TestBed.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');
const CLIENT = path.join(HERE, 'stream-client.ts');

/** The stream the design would declare: replicated on the three nodes, its leader on the declaring node. */
export const STREAM_ARGUMENTS = {
  'x-queue-type': 'stream',
  'x-max-length-bytes': 200_000_000,
  'x-stream-max-segment-size-bytes': 10_000_000,
  'x-initial-cluster-size': 3,
  'x-queue-leader-locator': 'client-local',
};

export interface Placement {
  type: string;
  leader: string;
  members: string[];
  online: string[];
}

export interface ClientEvent {
  event: string;
  at: number;
  [field: string]: unknown;
}

export interface RunningTask {
  events: ClientEvent[];
  child: ChildProcess;
  /** Resolves with the events once the client has exited. */
  exited: Promise<ClientEvent[]>;
  stop(): Promise<ClientEvent[]>;
}

export class Probe {
  constructor(
    readonly bed: TestBed,
    readonly servers: BedServers,
  ) {}

  /** A stream-client.ts task in `host` against the node of `node` (default: the same host), in the background. */
  start(host: string, task: Record<string, unknown>, node = host): RunningTask {
    const child = this.bed.exec(host, ['node', '--import', 'tsx', CLIENT, JSON.stringify({ url: this.servers.amqpUrl(node), ...task })], {
      cwd: REPO,
      hostname: false,
      env: { PATH: process.env.PATH },
    });
    const events: ClientEvent[] = [];
    let partial = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line.startsWith('{')) events.push(JSON.parse(line) as ClientEvent);
    });
    child.stderr?.on('data', (chunk: Buffer) => process.stderr.write(`[${host}] ${chunk.toString()}`));
    const exited = new Promise<ClientEvent[]>((resolve) => child.once('exit', () => resolve(events)));
    return {
      events,
      child,
      exited,
      stop: async () => {
        child.kill('SIGKILL');
        return exited;
      },
    };
  }

  /** A task to its end; killed after `timeoutMs`, with what it said until then. */
  async run(host: string, task: Record<string, unknown>, node = host, timeoutMs = 120_000): Promise<ClientEvent[]> {
    const running = this.start(host, task, node);
    const timer = setTimeout(() => running.child.kill('SIGKILL'), timeoutMs);
    const events = await running.exited;
    clearTimeout(timer);
    return events;
  }

  /** Every stream and quorum queue's leader and replicas (host names), as the node of `host` sees them. */
  async placement(host = 'users'): Promise<Record<string, Placement>> {
    const out = await this.servers.rabbitCli(host, 'rabbitmqctl', ['list_queues', '-p', 'rideshare', 'name', 'type', 'leader', 'members', 'online', '--formatter', 'json'], 30_000);
    const rows = JSON.parse(out) as { name: string; type: string; leader?: string; members?: string[]; online?: string[] }[];
    const strip = (node: unknown) => String(node).replace(/^rabbit@/, '');
    return Object.fromEntries(
      rows.map((row) => [
        row.name,
        { type: row.type, leader: strip(row.leader ?? ''), members: (Array.isArray(row.members) ? row.members : []).map(strip), online: (Array.isArray(row.online) ? row.online : []).map(strip) },
      ]),
    );
  }

  /** Milliseconds until `host`'s node sees every node running (-1 after `timeoutMs`). */
  async allRunning(timeoutMs = 120_000, host = 'users'): Promise<number> {
    const began = Date.now();
    while (Date.now() - began < timeoutMs) {
      try {
        const status = JSON.parse(await this.servers.rabbitCli(host, 'rabbitmqctl', ['cluster_status', '--formatter', 'json'], 20_000)) as { running_nodes?: string[] };
        if (this.servers.hosts.every((name) => status.running_nodes?.includes(rabbitNodeName(name)))) return Date.now() - began;
      } catch {
        // the node is busy rejoining
      }
      await sleep(1000);
    }
    return -1;
  }

  /** Until every replica of `queue` is online again (-1 after `timeoutMs`). */
  async replicasOnline(queue: string, timeoutMs = 60_000): Promise<number> {
    const began = Date.now();
    while (Date.now() - began < timeoutMs) {
      const row = (await this.placement().catch((): Record<string, Placement> => ({})))[queue];
      if (row && row.members.length > 0 && row.members.every((member) => row.online.includes(member))) return Date.now() - began;
      await sleep(1000);
    }
    return -1;
  }
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

export function loadAverage(): string {
  return /^(\S+ \S+ \S+)/.exec(readFileSync('/proc/loadavg', 'utf8'))?.[1] ?? '?';
}

/** Deliveries of a consume task as [offset, body] pairs, in the order they came. */
export function deliveries(events: readonly ClientEvent[]): { offset: number; body: string }[] {
  return events.filter((item) => item.event === 'delivery').map((item) => ({ offset: Number(item.offset), body: String(item.body) }));
}

/** The end of a consume task, or what stopped it short. */
export function outcome(events: readonly ClientEvent[]): string {
  const end = events.find((item) => item.event === 'end');
  const error = events.find((item) => item.event === 'error' || item.event === 'connection-error');
  const errors = Array.isArray(end?.errors) && end.errors.length > 0 && !String(end.reason).includes(String(end.errors[0])) ? ` (${end.errors.join('; ')})` : '';
  return `${String(end?.reason ?? error?.message ?? 'no end')}${errors}`;
}

/** The longest time between two of `events` (and from `from` to the first) at or after `from`, and when it began. */
export function longestGap(times: readonly number[], from: number, until = Date.now()): { ms: number; startedAfterMs: number } {
  const after = [from, ...times.filter((time) => time >= from), until];
  let worst = { ms: 0, startedAfterMs: 0 };
  for (let index = 1; index < after.length; index++) {
    const gap = after[index]! - after[index - 1]!;
    if (gap > worst.ms) worst = { ms: gap, startedAfterMs: after[index - 1]! - from };
  }
  return worst;
}
