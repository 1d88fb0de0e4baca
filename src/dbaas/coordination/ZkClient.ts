/**
 * A promise-based ZooKeeper session with a timeout on every call. The session's loss is an
 * event (`expired`): whoever holds something through the session (a master's lease, a worker's
 * registration) must act on it at once; a new ZkClient is needed after expiry.
 */
import { EventEmitter } from 'node:events';
import zookeeper from 'node-zookeeper-client';
import { withTimeout } from '../../shared/timeout.ts';

export interface ZkClientOptions {
  connect: string;
  sessionTimeoutMs: number;
  /** Upper bound for one operation, connecting included. */
  operationTimeoutMs?: number;
}

export type ZkWatcher = (event: zookeeper.Event) => void;

export const CreateMode = zookeeper.CreateMode;

type Callback<T> = (error: unknown, value: T) => void;

/** Events: `expired` (the session is gone), `disconnected`, `connected`. */
export class ZkClient extends EventEmitter {
  private readonly client: zookeeper.Client;
  private readonly operationTimeoutMs: number;
  private closed = false;

  constructor(private readonly options: ZkClientOptions) {
    super();
    this.operationTimeoutMs = options.operationTimeoutMs ?? Math.max(5000, options.sessionTimeoutMs);
    this.client = zookeeper.createClient(options.connect, { sessionTimeout: options.sessionTimeoutMs, spinDelay: 200, retries: 0 });
    this.client.on('state', (state) => {
      if (state === zookeeper.State.EXPIRED) this.emit('expired');
      else if (state === zookeeper.State.DISCONNECTED) this.emit('disconnected');
      else if (state === zookeeper.State.SYNC_CONNECTED) this.emit('connected');
    });
  }

  async connect(): Promise<void> {
    const connected = new Promise<void>((resolve) => this.client.once('connected', () => resolve()));
    this.client.connect();
    await withTimeout(connected, this.operationTimeoutMs, `ZooKeeper at ${this.options.connect} did not answer`);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.close();
  }

  create(path: string, data: unknown, mode: number): Promise<string> {
    return this.call<string>((done) => this.client.create(path, encodeData(data), mode, done));
  }

  /** Creates the node and its parents if missing; an existing node is left as it is. */
  async ensurePath(path: string): Promise<void> {
    await this.call<string>((done) => this.client.mkdirp(path, done));
  }

  async remove(path: string, version = -1): Promise<void> {
    await this.call<void>((done) => this.client.remove(path, version, (error) => done(error, undefined)));
  }

  async exists(path: string, watcher?: ZkWatcher): Promise<zookeeper.Stat | null> {
    return this.call<zookeeper.Stat | null>((done) =>
      watcher ? this.client.exists(path, watcher, (error, stat) => done(error, stat ?? null)) : this.client.exists(path, (error, stat) => done(error, stat ?? null)),
    );
  }

  async getData<T>(path: string, watcher?: ZkWatcher): Promise<{ data: T | undefined; version: number }> {
    const [buffer, stat] = await this.call<[Buffer | undefined, zookeeper.Stat]>((done) => {
      const callback = (error: unknown, data: Buffer, stat: zookeeper.Stat) => done(error, [data, stat]);
      if (watcher) this.client.getData(path, watcher, callback);
      else this.client.getData(path, callback);
    });
    return { data: decodeData<T>(buffer), version: stat.version };
  }

  async setData(path: string, data: unknown, version = -1): Promise<number> {
    const stat = await this.call<zookeeper.Stat>((done) => this.client.setData(path, encodeData(data), version, done));
    return stat.version;
  }

  async getChildren(path: string, watcher?: ZkWatcher): Promise<string[]> {
    return this.call<string[]>((done) => {
      const callback = (error: unknown, children: string[]) => done(error, children);
      if (watcher) this.client.getChildren(path, watcher, callback);
      else this.client.getChildren(path, callback);
    });
  }

  private call<T>(start: (done: Callback<T>) => void): Promise<T> {
    const operation = new Promise<T>((resolve, reject) => {
      start((error, value) => (error ? reject(asError(error)) : resolve(value)));
    });
    return withTimeout(operation, this.operationTimeoutMs, 'ZooKeeper operation timed out');
  }
}

export function isZkError(error: unknown, code: number): boolean {
  const candidate = error as { zkCode?: unknown; code?: unknown } | null;
  return candidate?.zkCode === code || candidate?.code === code;
}

export const ZkErrorCode = {
  NO_NODE: zookeeper.Exception.NO_NODE,
  NODE_EXISTS: zookeeper.Exception.NODE_EXISTS,
  BAD_VERSION: zookeeper.Exception.BAD_VERSION,
  NOT_EMPTY: zookeeper.Exception.NOT_EMPTY,
};

function asError(error: unknown): Error {
  if (error instanceof Error) return error;
  // The library's Exception is not an Error; keep its code so callers can branch on it.
  const exception = error as { code?: number; toString(): string };
  return Object.assign(new Error(exception.toString()), { zkCode: exception.code });
}

function encodeData(data: unknown): Buffer {
  return Buffer.from(JSON.stringify(data ?? null));
}

function decodeData<T>(buffer: Buffer | undefined): T | undefined {
  if (!buffer || buffer.length === 0) return undefined;
  try {
    return JSON.parse(buffer.toString('utf8')) as T;
  } catch {
    return undefined;
  }
}
