/**
 * The same measurement as zk-dead-link.test.ts for the official C client, through the
 * `zookeeper` package on npm (7.x, a native addon built from bundled sources): the alternative
 * to node-zookeeper-client that was weighed and not taken (docs/architecture.md says why). It
 * is not a dependency: the test runs only where the package has been installed by hand, and
 * gives the session the same local loss timer and renewal as ZkClient, so that only the
 * library's own noticing of a dead link differs. It asserts nothing about the figures; it prints
 * them.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RestartableServer } from '../../harness/faults/servers.ts';
import { describeRuns, measureDeadLink, type DeadLinkRun, type SessionEvent, type WatchedSession } from '../../harness/faults/dead-link.ts';

const SESSION_TIMEOUT_MS = 4000;
const LOSS_MARGIN_MS = 500;
const RUNS = Number(process.env.DEAD_LINK_RUNS ?? 3);
/** A variable, so that neither the compiler nor the bundler looks for a package that is not a dependency. */
const PACKAGE = 'zookeeper';
const ZOO_LOG_LEVEL_ERROR = 1;

/** The part of the package's ZooKeeper class this measurement uses. */
interface CClient {
  on(event: 'connect' | 'connecting' | 'close', listener: () => void): void;
  connect(options: object, callback: (error: unknown) => void): void;
  close(): void;
}
type CClientClass = new (config: object) => CClient;

async function loadCClient(): Promise<CClientClass | undefined> {
  try {
    const loaded = (await import(PACKAGE)) as { default: CClientClass };
    return loaded.default;
  } catch {
    return undefined;
  }
}

/** The C client with ZkClient's policy: lost after a disconnection longer than the timeout plus the margin, then a new session. */
function watchedCClient(Client: CClientClass, connect: string): WatchedSession {
  const listeners: Record<SessionEvent, (() => void)[]> = { disconnected: [], lost: [], reconnected: [] };
  const emit = (event: SessionEvent) => listeners[event].forEach((listener) => listener());
  let closed = false;
  let lossTimer: NodeJS.Timeout | undefined;
  let current: CClient | undefined;
  let firstConnect: ((error?: unknown) => void) | undefined;

  const lose = (handle: CClient) => {
    if (handle !== current || closed) return;
    clearTimeout(lossTimer);
    emit('lost');
    handle.close();
    open();
  };
  const open = () => {
    const handle = new Client({ connect, timeout: SESSION_TIMEOUT_MS, debug_level: ZOO_LOG_LEVEL_ERROR, host_order_deterministic: false });
    current = handle;
    handle.on('connect', () => {
      if (handle !== current || closed) return;
      clearTimeout(lossTimer);
      emit('reconnected');
      firstConnect?.();
      firstConnect = undefined;
    });
    handle.on('connecting', () => {
      if (handle !== current || closed) return;
      emit('disconnected');
      clearTimeout(lossTimer);
      lossTimer = setTimeout(() => lose(handle), SESSION_TIMEOUT_MS + LOSS_MARGIN_MS);
    });
    // The server told it that its session expired (only ever on a reconnection).
    handle.on('close', () => lose(handle));
    handle.connect({}, (error) => {
      if (error) firstConnect?.(error);
    });
  };

  return {
    connect: () =>
      new Promise<void>((resolve, reject) => {
        firstConnect = (error) => (error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve());
        open();
      }),
    on: (event, listener) => listeners[event].push(listener),
    close: () => {
      closed = true;
      clearTimeout(lossTimer);
      current?.close();
    },
  };
}

describe('the official C client (`zookeeper` package) on a link that goes silent', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rideshare-zk-dead-link-c-'));
  let zk: RestartableServer | undefined;
  let Client: CClientClass | undefined;

  beforeAll(async () => {
    Client = await loadCClient();
    if (!Client) return;
    zk = await RestartableServer.zooKeeper(dir, 200);
    await zk.start();
  }, 60_000);
  afterAll(async () => {
    await zk?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('is measured like ZkClient', async (ctx) => {
    if (!Client || !zk) ctx.skip(`the ${PACKAGE} package is not installed here`);
    const Loaded = Client as CClientClass;
    const runs: DeadLinkRun[] = [];
    for (let run = 0; run < RUNS; run += 1) {
      runs.push(await measureDeadLink((connect) => watchedCClient(Loaded, connect), { zkPort: (zk as RestartableServer).port, sessionTimeoutMs: SESSION_TIMEOUT_MS, partitionMs: 2 * SESSION_TIMEOUT_MS, reconnectWaitMs: 15_000 }, run));
    }
    console.log(describeRuns(`${PACKAGE} (C client)`, runs));
    expect(runs).toHaveLength(RUNS);
  }, 180_000);
});
