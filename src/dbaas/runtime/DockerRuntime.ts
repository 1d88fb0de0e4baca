/**
 * Workers as Docker containers, one per worker, through the Engine API. Host networking, so
 * workers reach RabbitMQ and ZooKeeper on loopback as local processes do; the host's pid
 * namespace, so the worker's node is the container's main process and one pid serves everywhere:
 * State.Pid, the pid the worker registers in ZooKeeper, and the pid a host `kill` reaches.
 * (Docker adds its init only to containers with a private pid namespace; none is needed here,
 * since node is not a namespace's pid 1 and so keeps the default SIGTERM behaviour.)
 * Containers carry labels (cluster, worker, role) and are not auto-removed: a 'die' event
 * reports the exit, then the output is saved to logDir/<workerId>.log and the container removed.
 * A restarted orchestrator finds its cluster's containers by label and adopts them.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import Docker from 'dockerode';
import type { Logger } from '../../shared/logger.ts';
import type { WorkerExit, WorkerHandle, WorkerRuntime, WorkerRuntimeEvents, WorkerSpec } from './WorkerRuntime.ts';

export const DEFAULT_WORKER_IMAGE = 'rideshare:latest';
export const LABELS = { cluster: 'rideshare.cluster', worker: 'rideshare.worker', role: 'rideshare.role', data: 'rideshare.data' } as const;
const DEFAULT_GRACE_MS = 5000;
/** Same flags as ProcessRuntime's workers, so both runtimes measure the same program. */
const WORKER_ENTRYPOINT = ['node', '--max-semi-space-size=4', '--import', 'tsx'];
const WORKER_MAIN = 'src/dbaas/worker/main.ts';
const RECONNECT_MS = 1000;
/** Every ordinary Engine API call ends within this (a graceful stop's grace included). */
const CALL_TIMEOUT_MS = 30_000;

export interface DockerRuntimeOptions {
  cluster: string;
  /** Recorded on each container (label rideshare.data), to tell clusters' containers apart in `docker ps`. */
  dataDir: string;
  /** Where a container's output is saved when it exits (the container itself is removed). */
  logDir: string;
  image?: string;
  logger: Logger;
  /** Defaults to DOCKER_HOST, else /var/run/docker.sock. */
  docker?: Docker;
}

interface Tracked {
  handle: WorkerHandle;
  containerId: string;
  exited: boolean;
  /** Resolves once the exit is reported and the container removed. */
  gone: Promise<void>;
  markGone: () => void;
}

export class DockerRuntime extends EventEmitter<WorkerRuntimeEvents> implements WorkerRuntime {
  readonly kind = 'docker' as const;
  readonly image: string;
  private readonly docker: Docker;
  /** Without a timeout: the event stream and `wait` are meant to last (both are re-established). */
  private readonly streams: Docker;
  private readonly logger: Logger;
  private readonly workers = new Map<string, Tracked>();
  private events: Readable | undefined;
  private watching: Promise<void> | undefined;
  private lastEventSeconds = 0;
  /** The first start or adoption clears up after earlier runs; every start waits for it. */
  private swept: Promise<unknown> | undefined;
  /** Starts in progress: a sweep leaves their containers alone, and close() waits for them. */
  private readonly starting = new Map<string, Promise<unknown>>();
  private closing = false;

  constructor(private readonly options: DockerRuntimeOptions) {
    super();
    this.image = options.image ?? DEFAULT_WORKER_IMAGE;
    this.docker = options.docker ?? new Docker({ timeout: CALL_TIMEOUT_MS });
    this.streams = options.docker ?? new Docker();
    this.logger = options.logger.child({ component: 'docker-runtime' });
    fs.mkdirSync(options.logDir, { recursive: true });
  }

  async start(spec: WorkerSpec): Promise<WorkerHandle> {
    if (this.closing) throw new Error(`cannot start worker ${spec.workerId}: the runtime is closing`);
    await this.watch();
    await (this.swept ??= this.sweep(true));
    const started = this.run(spec);
    this.starting.set(spec.workerId, started);
    try {
      return await started;
    } finally {
      this.starting.delete(spec.workerId);
    }
  }

  private async run(spec: WorkerSpec): Promise<WorkerHandle> {
    const env = { ...spec.env };
    // The container sees the same paths as the supervisor, so they must not depend on a cwd.
    for (const key of ['WORKER_DB_FILE', 'WORKER_RECOVER_DIR']) if (env[key]) env[key] = path.resolve(env[key]);
    const dirs = new Set([env.WORKER_DB_FILE && path.dirname(env.WORKER_DB_FILE), env.WORKER_RECOVER_DIR].filter((dir): dir is string => !!dir));
    for (const dir of dirs) fs.mkdirSync(dir, { recursive: true });
    const container = await this.docker
      .createContainer({
        name: `rideshare-${this.options.cluster}-${spec.workerId}`,
        Image: this.image,
        Entrypoint: WORKER_ENTRYPOINT,
        Cmd: [WORKER_MAIN],
        WorkingDir: '/app',
        Env: Object.entries(env).map(([key, value]) => `${key}=${value}`),
        Labels: {
          [LABELS.cluster]: this.options.cluster,
          [LABELS.worker]: spec.workerId,
          [LABELS.role]: spec.role,
          [LABELS.data]: path.resolve(this.options.dataDir),
        },
        HostConfig: {
          NetworkMode: 'host',
          PidMode: 'host',
          Binds: [...dirs].map((dir) => `${dir}:${dir}`),
          AutoRemove: false,
          RestartPolicy: { Name: 'no' },
          // Bounded, since the whole log is copied to logDir when the worker exits.
          LogConfig: { Type: 'json-file', Config: { 'max-size': '20m', 'max-file': '2' } },
        },
      })
      .catch((error: unknown) => {
        if (statusOf(error) === 404) throw new Error(`worker image ${this.image} is missing; build it with \`npm run images\` (docker/build-images.sh)`);
        throw error;
      });
    // Tracked before it runs, so no exit can go unclaimed; the pid is known once it runs.
    const tracked = this.track(spec.workerId, container.id);
    try {
      await container.start();
      if (this.closing) throw new Error(`worker ${spec.workerId} started while the runtime was closing`);
      const { State } = await container.inspect();
      tracked.handle.pid = State.Pid;
      if (!State.Running) void this.finish(tracked, State.ExitCode);
      return tracked.handle;
    } catch (error) {
      this.workers.delete(spec.workerId);
      await container.remove({ force: true }).catch(() => undefined);
      throw error;
    }
  }

  list(): WorkerHandle[] {
    return [...this.workers.values()].map((worker) => worker.handle);
  }

  /** Signals reach the worker's node directly (it is the main process); SIGSTOP freezes it as it would a local process. */
  async kill(workerId: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const tracked = this.workers.get(workerId);
    if (!tracked) return;
    await this.signal(tracked, signal);
    if (signal === 'SIGKILL' || signal === 'SIGTERM') await this.gone(tracked);
  }

  async stop(workerId: string, graceMs = DEFAULT_GRACE_MS): Promise<void> {
    const tracked = this.workers.get(workerId);
    if (!tracked) return;
    await this.signal(tracked, 'SIGTERM');
    const timer = setTimeout(() => void this.signal(tracked, 'SIGKILL'), graceMs);
    await this.gone(tracked);
    clearTimeout(timer);
  }

  /** Takes over the cluster's live containers, found by label (left by an orchestrator that died), and removes its dead ones. */
  async adopt(): Promise<WorkerHandle[]> {
    await this.watch();
    const sweep = this.sweep(false);
    this.swept ??= sweep;
    const adopted = await sweep;
    if (adopted.length > 0) this.logger.info({ workers: adopted }, 'adopted running worker containers');
    return adopted;
  }

  /** Stops and removes every container of the cluster, tracked or not, then stops watching. */
  async close(): Promise<void> {
    this.closing = true;
    try {
      await Promise.allSettled(this.starting.values());
      await Promise.all([...this.workers.keys()].map((workerId) => this.stop(workerId)));
      const leftovers = await this.clusterContainers().catch(() => []);
      await Promise.all(leftovers.map((info) => this.discard(info.Id, info.Labels[LABELS.worker], info.State === 'running' ? DEFAULT_GRACE_MS : undefined)));
      this.events?.destroy();
      this.events = undefined;
      this.watching = undefined;
    } finally {
      this.closing = false;
    }
  }

  private track(workerId: string, containerId: string): Tracked {
    let markGone!: () => void;
    const gone = new Promise<void>((resolve) => (markGone = resolve));
    const tracked: Tracked = { handle: { workerId, pid: 0 }, containerId, exited: false, gone, markGone };
    this.workers.set(workerId, tracked);
    return tracked;
  }

  /** The one place an exit is handled, whoever saw it first (an event, a wait, an inspect): reported once. */
  private async finish(tracked: Tracked, exitCode: number | null): Promise<void> {
    if (tracked.exited) return;
    tracked.exited = true;
    if (this.workers.get(tracked.handle.workerId) === tracked) this.workers.delete(tracked.handle.workerId);
    this.emit('exit', { ...tracked.handle, ...describeExit(exitCode) } satisfies WorkerExit);
    await this.discard(tracked.containerId, tracked.handle.workerId);
    tracked.markGone();
  }

  /** Waits for the exit through the engine as well as the events, so a missed event cannot hang a kill. */
  private async gone(tracked: Tracked): Promise<void> {
    this.streams
      .getContainer(tracked.containerId)
      .wait({ condition: 'not-running' })
      .then((result: { StatusCode?: number }) => this.finish(tracked, result.StatusCode ?? null))
      .catch(() => this.finish(tracked, null));
    await tracked.gone;
  }

  private async signal(tracked: Tracked, signal: NodeJS.Signals): Promise<void> {
    await this.docker
      .getContainer(tracked.containerId)
      .kill({ signal })
      .catch((error: unknown) => {
        // 409: not running (already dead, its event on the way); 404: removed by someone else.
        if (statusOf(error) !== 409 && statusOf(error) !== 404) throw error;
      });
  }

  /** Saves a container's output to logDir, then removes it (stopping it first, with that grace, if given). */
  private async discard(containerId: string, workerId: string | undefined, stopGraceMs?: number): Promise<void> {
    const container = this.docker.getContainer(containerId);
    try {
      if (stopGraceMs !== undefined) await container.stop({ t: Math.ceil(stopGraceMs / 1000) });
      if (workerId) fs.appendFileSync(path.join(this.options.logDir, `${workerId}.log`), demux(await container.logs({ stdout: true, stderr: true })));
    } catch (error) {
      // 404 or 409: gone, or being removed by another runtime of the cluster (which saves the output).
      if (statusOf(error) !== 404 && statusOf(error) !== 409) this.logger.warn({ err: error, workerId }, 'could not save the output of a worker container');
    }
    await container.remove({ force: true }).catch(async (error: unknown) => {
      // 409: another runtime of the cluster is removing it; "gone" must still mean gone.
      if (statusOf(error) === 409) await container.wait({ condition: 'removed' }).catch(() => undefined);
      else if (statusOf(error) !== 404) this.logger.warn({ err: error, workerId }, 'could not remove a worker container');
    });
  }

  /**
   * Adopts the cluster's live containers and removes its dead ones; with `killLive`, the live
   * ones are removed too (a cluster started afresh: they are an earlier run's, unregistered).
   */
  private async sweep(killLive: boolean): Promise<WorkerHandle[]> {
    const adopted: WorkerHandle[] = [];
    for (const info of await this.clusterContainers()) {
      const workerId = info.Labels[LABELS.worker];
      if (workerId && (this.starting.has(workerId) || this.workers.get(workerId)?.containerId === info.Id)) continue;
      const live = info.State === 'running' || info.State === 'paused';
      if (!workerId || !live || killLive) {
        if (live) this.logger.warn({ workerId, container: info.Id.slice(0, 12) }, 'removing a worker container of an earlier run');
        // No grace for those: unregistered, they must not act again.
        await this.discard(info.Id, workerId, info.State === 'running' ? 0 : undefined);
        continue;
      }
      const tracked = this.track(workerId, info.Id);
      const state = await this.docker.getContainer(info.Id).inspect().then((details) => details.State).catch(() => undefined);
      tracked.handle.pid = state?.Pid ?? 0;
      if (!state?.Running) void this.finish(tracked, state?.ExitCode ?? null);
      else adopted.push(tracked.handle);
    }
    return adopted;
  }

  private clusterContainers(): Promise<Docker.ContainerInfo[]> {
    return this.docker.listContainers({ all: true, filters: { label: [`${LABELS.cluster}=${this.options.cluster}`] } });
  }

  /** Subscribes to the cluster's 'die' events, once; again (from where it broke) if the stream breaks. */
  private watch(): Promise<void> {
    this.watching ??= this.subscribe().catch((error: unknown) => {
      this.watching = undefined;
      throw error;
    });
    return this.watching;
  }

  private async subscribe(): Promise<void> {
    const stream = (await this.streams.getEvents({
      ...(this.lastEventSeconds ? { since: this.lastEventSeconds } : {}),
      filters: { type: ['container'], event: ['die'], label: [`${LABELS.cluster}=${this.options.cluster}`] },
    })) as Readable;
    this.events = stream;
    let pending = '';
    stream.on('data', (chunk: Buffer) => {
      const lines = (pending + chunk.toString('utf8')).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) this.onEvent(line);
    });
    const broken = () => {
      if (this.events !== stream) return; // closed on purpose, or already replaced
      this.events = undefined;
      this.watching = undefined;
      this.logger.warn('lost the Docker event stream; reconnecting');
      setTimeout(() => void this.resubscribe(), RECONNECT_MS).unref();
    };
    for (const event of ['error', 'close', 'end']) stream.once(event, broken);
  }

  /** After a break, deaths may have gone unseen: each tracked container is checked once. */
  private async resubscribe(): Promise<void> {
    if (this.watching || this.workers.size === 0) return;
    try {
      await this.watch();
    } catch (error) {
      this.logger.warn({ err: error }, 'Docker engine not answering; retrying');
      setTimeout(() => void this.resubscribe(), RECONNECT_MS).unref();
      return;
    }
    for (const tracked of [...this.workers.values()]) {
      if (this.starting.has(tracked.handle.workerId)) continue;
      const state = await this.docker.getContainer(tracked.containerId).inspect().then((info) => info.State).catch(() => undefined);
      if (!state?.Running) void this.finish(tracked, state?.ExitCode ?? null);
    }
  }

  private onEvent(line: string): void {
    let event: { id?: string; Action?: string; time?: number; Actor?: { Attributes?: Record<string, string> } };
    try {
      event = JSON.parse(line);
    } catch {
      return;
    }
    if (event.time) this.lastEventSeconds = event.time;
    const tracked = [...this.workers.values()].find((worker) => worker.containerId === event.id);
    const code = event.Actor?.Attributes?.exitCode;
    if (tracked && event.Action === 'die') void this.finish(tracked, code === undefined ? null : Number(code));
  }
}

/** A container killed by signal N exits with 128 + N; reported as a process runtime would. */
function describeExit(exitCode: number | null): Pick<WorkerExit, 'code' | 'signal'> {
  const signal = exitCode !== null && exitCode > 128 ? Object.entries(os.constants.signals).find(([, number]) => number === exitCode - 128)?.[0] : undefined;
  return signal ? { code: null, signal } : { code: exitCode, signal: null };
}

/** Docker multiplexes a non-TTY container's stdout and stderr in frames: 8-byte header, then the payload. */
function demux(buffer: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (let offset = 0; offset + 8 <= buffer.length; offset += 8 + buffer.readUInt32BE(offset + 4)) {
    parts.push(buffer.subarray(offset + 8, offset + 8 + buffer.readUInt32BE(offset + 4)));
  }
  return Buffer.concat(parts);
}

function statusOf(error: unknown): number | undefined {
  return typeof error === 'object' && error !== null && 'statusCode' in error ? Number((error as { statusCode: unknown }).statusCode) : undefined;
}
