/**
 * How soon a ZooKeeper client notices that its link went silent, measured the same way for any
 * client: a private ZooKeeper reached through the link-fault proxy; once connected (and after a
 * phase that differs from run to run, so the client's own ping timing varies), every link is
 * partitioned (paused both ways, the server's hang-up held back from the client) and new
 * connections are accepted and never answered, the way a partition looks to a client whose
 * packets are dropped rather than refused. Measured from that moment:
 * when the client reports itself disconnected and when it reports its session lost; then the
 * partition heals and, from that moment, when it is connected again (on the old session or a
 * new one).
 */
import { sleep } from '../../src/shared/timeout.ts';
import { TcpProxy } from './tcp-proxy.ts';

/** What a client under test reports, whatever its library calls it. */
export type SessionEvent = 'disconnected' | 'lost' | 'reconnected';

export interface WatchedSession {
  connect(): Promise<void>;
  on(event: SessionEvent, listener: () => void): void;
  close(): void;
}

export interface DeadLinkRun {
  /** From the link going silent; undefined when it never said so within the partition. */
  disconnectedMs: number | undefined;
  lostMs: number | undefined;
  /** From the partition healing; undefined when not connected again within the wait. */
  reconnectedMs: number | undefined;
}

export interface DeadLinkOptions {
  zkPort: number;
  sessionTimeoutMs: number;
  /** How long the partition lasts at most: it heals early once the session is reported lost. */
  partitionMs: number;
  /** How long to wait for a connection after the partition heals. */
  reconnectWaitMs: number;
}

export async function measureDeadLink(open: (connect: string) => WatchedSession, options: DeadLinkOptions, run: number): Promise<DeadLinkRun> {
  const proxy = new TcpProxy({ targetPort: options.zkPort });
  await proxy.start();
  const session = open(`127.0.0.1:${proxy.port}`);
  const seen: Partial<Record<SessionEvent, number>> = {};
  for (const event of ['disconnected', 'lost', 'reconnected'] as const) session.on(event, () => (seen[event] ??= Date.now()));
  try {
    await session.connect();
    // Spread the moment of silence over the client's ping period (a third of the session timeout).
    await sleep(200 + ((run * 277) % Math.floor(options.sessionTimeoutMs / 3)));
    delete seen.reconnected;
    const silentAt = Date.now();
    proxy.acceptSilently(true);
    proxy.partition(proxy.list().map((link) => link.clientPort));
    await waitFor(() => seen.lost !== undefined, options.partitionMs);
    const healedAt = Date.now();
    delete seen.reconnected;
    proxy.acceptSilently(false);
    proxy.heal();
    await waitFor(() => seen.reconnected !== undefined, options.reconnectWaitMs);
    return {
      disconnectedMs: since(silentAt, seen.disconnected),
      lostMs: since(silentAt, seen.lost),
      reconnectedMs: since(healedAt, seen.reconnected),
    };
  } finally {
    session.close();
    await proxy.stop();
  }
}

/** The median of the runs' figures, undefined (never) counting as longer than any figure. */
export function medianOf(runs: DeadLinkRun[], figure: keyof DeadLinkRun): number | undefined {
  const values = runs.map((run) => run[figure] ?? Number.POSITIVE_INFINITY).sort((a, b) => a - b);
  const middle = values[Math.floor(values.length / 2)] as number;
  return Number.isFinite(middle) ? middle : undefined;
}

export function describeRuns(name: string, runs: DeadLinkRun[]): string {
  const show = (value: number | undefined) => (value === undefined ? 'never' : `${value} ms`);
  const column = (figure: keyof DeadLinkRun) => `${show(medianOf(runs, figure))} (${runs.map((run) => show(run[figure])).join(', ')})`;
  return [
    `${name}, median of ${runs.length} runs (each run):`,
    `  disconnected after ${column('disconnectedMs')}`,
    `  session lost after ${column('lostMs')}`,
    `  connected again after ${column('reconnectedMs')} from the heal`,
  ].join('\n');
}

function since(start: number, at: number | undefined): number | undefined {
  return at === undefined ? undefined : at - start;
}

async function waitFor(condition: () => boolean, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!condition() && Date.now() < deadline) await sleep(20);
}
