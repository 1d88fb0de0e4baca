/**
 * Workers as Docker containers, one per worker, through the Engine API. Host networking, so
 * workers reach RabbitMQ and ZooKeeper on loopback as local processes do; the host's pid
 * namespace, so the worker's node is the container's main process and one pid serves everywhere:
 * State.Pid, the pid the worker registers in ZooKeeper, and the pid a host `kill` reaches.
 * (Docker adds its init only to containers with a private pid namespace; none is needed here,
 * since node is not a namespace's pid 1 and so keeps the default SIGTERM behaviour.)
 * Containers carry labels (cluster, worker, role) and are not auto-removed. A death is reported
 * only once the engine confirms it (a 'die' event, a wait() result, or an inspect that says not
 * running); an engine that does not answer is asked again, never taken for a death. The output is
 * then saved to logDir/<workerId>.log and the container removed (which ends anything else that
 * ran in it), and only then is the exit reported: a promotion never starts beside the old master.
 * A restarted orchestrator finds its cluster's containers by label and adopts them.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import Docker from 'dockerode';
import type { Logger } from '../../shared/logger.ts';
import { sleep } from '../../shared/timeout.ts';
import { DieEvents } from './DieEvents.ts';
import { RuntimeLifecycle } from './RuntimeLifecycle.ts';
import { containerState, demux, describeExit, retried, statusOf, type ContainerState } from './containers.ts';
import { encodeWorkerSettings, WORKER_SETTINGS_FILE_VARIABLE, type WorkerSettings } from '../worker/WorkerSettings.ts';
import type { WorkerExit, WorkerHandle, WorkerRuntime, WorkerRuntimeEvents, WorkerSpec } from './WorkerRuntime.ts';
import { RideShareError } from '../../shared/errors.ts';

export const LABELS = { cluster: 'rideshare.cluster', worker: 'rideshare.worker', role: 'rideshare.role', data: 'rideshare.data' } as const;
const DEFAULT_GRACE_MS = 5000;
/**
 * Same flags and program as ProcessRuntime's compiled workers: the one-file bundle that
 * docker/build-images.sh builds into the image (no TypeScript loader, ~200 modules fewer to load).
 */
const WORKER_ENTRYPOINT = ['node', '--max-semi-space-size=4'];
export const WORKER_MAIN_IN_IMAGE = 'dist/dbaas/worker/main.bundle.js';
/** Where a worker container finds its settings: a read-only mount of its file in settingsDir. */
const SETTINGS_IN_CONTAINER = '/run/rideshare/worker-settings.json';
/** The first pause before asking the engine again about an exit it has not confirmed; it grows with each failure. */
const CONFIRM_BACKOFF_MS = 1000;
/** Every ordinary Engine API call ends within this (a graceful stop's grace included). */
const CALL_TIMEOUT_MS = 30_000;
/** Engine errors on the calls that decide life and death are retried this often before giving up. */
const ENGINE_RETRY = { attempts: 5, delayMs: 200 };
/** Between two attempts to confirm an exit the engine would not confirm: at most this long. */
const CONFIRM_BACKOFF_MAX_MS = 5000;

export interface DockerRuntimeOptions {
  cluster: string;
  /** Recorded on each container (label rideshare.data), to tell clusters' containers apart in `docker ps`. */
  dataDir: string;
  /** Where a container's output is saved when it exits (the container itself is removed). */
  logDir: string;
  /** The workers' image (config WORKER_IMAGE). */
  image: string;
  logger: Logger;
  /** Defaults to DOCKER_HOST, else /var/run/docker.sock. */
  docker?: Docker;
}

interface Tracked {
  handle: WorkerHandle;
  containerId: string;
  exited: boolean;
  /** Resolves once the exit is confirmed, the container removed and the exit reported. */
  gone: Promise<void>;
  markGone: () => void;
  /** The one loop asking the engine until it confirms the exit. */
  confirming?: Promise<void>;
}

export class DockerRuntime extends EventEmitter<WorkerRuntimeEvents> implements WorkerRuntime {
  readonly kind = 'docker' as const;
  readonly image: string;
  private readonly docker: Docker;
  /** Without a timeout: the event stream and `wait` are meant to last (both are re-established). */
  private readonly streams: Docker;
  private readonly logger: Logger;
  private readonly workers = new Map<string, Tracked>();
  private readonly events: DieEvents;
  /** The first start or adoption clears up after earlier runs; every start waits for it. */
  private swept: Promise<unknown> | undefined;
  /** Starts in progress: a sweep leaves their containers alone, and close() waits for them. */
  private readonly starting = new Map<string, Promise<unknown>>();
  private readonly lifecycle = new RuntimeLifecycle();

  constructor(private readonly options: DockerRuntimeOptions) {
    super();
    this.image = options.image;
    this.docker = options.docker ?? new Docker({ timeout: CALL_TIMEOUT_MS });
    this.streams = options.docker ?? new Docker();
    this.logger = options.logger.child({ component: 'docker-runtime' });
    this.events = new DieEvents({
      docker: this.streams,
      label: `${LABELS.cluster}=${options.cluster}`,
      logger: this.logger,
      onDie: (containerId, exitCode) => this.onDie(containerId, exitCode),
      onResumed: () => this.recheck(),
      wanted: () => this.workers.size > 0,
    });
    fs.mkdirSync(options.logDir, { recursive: true });
  }

  async start(spec: WorkerSpec): Promise<WorkerHandle> {
    this.lifecycle.assertOpen(`start worker ${spec.workerId}`);
    await this.events.watch();
    this.swept ??= this.sweep(true);
    await this.swept;
    const started = this.run(spec);
    this.starting.set(spec.workerId, started);
    try {
      return await started;
    } finally {
      this.starting.delete(spec.workerId);
    }
  }

  private async run(spec: WorkerSpec): Promise<WorkerHandle> {
    // The container sees the same paths as the supervisor, so they must not depend on a cwd.
    const settings: WorkerSettings = { ...spec.settings, dbFile: path.resolve(spec.settings.dbFile) };
    if (settings.recoverDir) settings.recoverDir = path.resolve(settings.recoverDir);
    // The settings hold the cluster key and the servers' credentials: a file only the worker's
    // user reads, mounted read-only, not an environment variable that docker inspect shows.
    const settingsFile = this.settingsFile(spec.workerId);
    fs.mkdirSync(path.dirname(settingsFile), { recursive: true, mode: 0o700 });
    fs.writeFileSync(settingsFile, encodeWorkerSettings(settings), { mode: 0o600 });
    const env = { [WORKER_SETTINGS_FILE_VARIABLE]: SETTINGS_IN_CONTAINER };
    const dirs = new Set([path.dirname(settings.dbFile), settings.recoverDir].filter((dir): dir is string => !!dir));
    for (const dir of dirs) fs.mkdirSync(dir, { recursive: true });
    const container = await this.docker
      .createContainer({
        name: `rideshare-${this.options.cluster}-${spec.workerId}`,
        Image: this.image,
        Entrypoint: WORKER_ENTRYPOINT,
        Cmd: [WORKER_MAIN_IN_IMAGE],
        WorkingDir: '/app',
        Env: Object.entries(env).map(([key, value]) => `${key}=${value}`),
        Labels: {
          [LABELS.cluster]: this.options.cluster,
          [LABELS.worker]: spec.workerId,
          [LABELS.role]: spec.role,
          [LABELS.data]: path.resolve(this.options.dataDir),
        },
        // The orchestrator's own user, never root unless it is: the worker's files are the
        // supervisor's to read, and compose runs the orchestrator unprivileged.
        User: `${process.getuid?.() ?? 1000}:${process.getgid?.() ?? 1000}`,
        // The image's check is the HTTP servers'; a worker's health is its ZooKeeper session.
        Healthcheck: { Test: ['NONE'] },
        HostConfig: {
          NetworkMode: 'host',
          PidMode: 'host',
          Binds: [...[...dirs].map((dir) => `${dir}:${dir}`), `${settingsFile}:${SETTINGS_IN_CONTAINER}:ro`],
          AutoRemove: false,
          RestartPolicy: { Name: 'no' },
          // Bounded, since the whole log is copied to logDir when the worker exits.
          LogConfig: { Type: 'json-file', Config: { 'max-size': '20m', 'max-file': '2' } },
        },
      })
      .catch((error: unknown) => {
        if (statusOf(error) === 404) throw new RideShareError('CONFIG_INVALID', `worker image ${this.image} is missing; build it with \`npm run images\` (docker/build-images.sh)`);
        throw error;
      });
    // Tracked before it runs, so no exit can go unclaimed; the pid is known once it runs.
    const tracked = this.track(spec.workerId, container.id);
    try {
      await container.start();
      if (this.lifecycle.state !== 'open') throw new RideShareError('INVALID_STATE', `worker ${spec.workerId} started while the runtime was ${this.lifecycle.state}`);
      const { State } = await container.inspect();
      tracked.handle.pid = State.Pid;
      if (!State.Running) void this.finish(tracked, State.ExitCode);
      return tracked.handle;
    } catch (error) {
      this.workers.delete(spec.workerId);
      await container.remove({ force: true }).catch(() => undefined);
      fs.rmSync(settingsFile, { force: true });
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
    const timer = setTimeout(() => {
      this.signal(tracked, 'SIGKILL').catch((error: unknown) => this.logger.error({ err: error, workerId }, 'could not send SIGKILL after the grace'));
    }, graceMs);
    await this.gone(tracked);
    clearTimeout(timer);
  }

  /** Takes over the cluster's live containers, found by label (left by an orchestrator that died), and removes its dead ones. */
  async adopt(): Promise<WorkerHandle[]> {
    this.lifecycle.assertOpen('adopt workers');
    await this.events.watch();
    const sweep = this.sweep(false);
    this.swept ??= sweep;
    const adopted = await sweep;
    if (adopted.length > 0) this.logger.info({ workers: adopted }, 'adopted running worker containers');
    return adopted;
  }

  /**
   * Lets the starts in progress finish, then stops and removes every container of the cluster,
   * tracked or not, and stops watching. Final: a closed runtime starts and adopts nothing.
   * Idempotent: a second call returns the first one's promise.
   */
  close(): Promise<void> {
    return this.lifecycle.close(async () => {
      await Promise.allSettled(this.starting.values());
      await Promise.all([...this.workers.keys()].map((workerId) => this.stop(workerId)));
      const leftovers = await this.clusterContainers().catch(() => []);
      await Promise.all(leftovers.map((info) => this.discard(info.Id, info.Labels[LABELS.worker], info.State === 'running' ? DEFAULT_GRACE_MS : undefined)));
      this.events.close();
    });
  }

  private track(workerId: string, containerId: string): Tracked {
    let markGone!: () => void;
    const gone = new Promise<void>((resolve) => (markGone = resolve));
    const tracked: Tracked = { handle: { workerId, pid: 0 }, containerId, exited: false, gone, markGone };
    this.workers.set(workerId, tracked);
    return tracked;
  }

  /**
   * The one place an exit is handled, whoever had the engine confirm it first (an event, a wait,
   * an inspect): the container is removed, then the exit reported, once. Until then the worker
   * stays listed, so the supervisor never takes it for gone while something of it may still run.
   */
  private async finish(tracked: Tracked, exitCode: number | null): Promise<void> {
    if (tracked.exited) return;
    tracked.exited = true;
    await this.discard(tracked.containerId, tracked.handle.workerId);
    if (this.workers.get(tracked.handle.workerId) === tracked) this.workers.delete(tracked.handle.workerId);
    this.emit('exit', { ...tracked.handle, ...describeExit(exitCode) } satisfies WorkerExit);
    tracked.markGone();
  }

  /** Resolves once the exit is confirmed and reported; the engine is asked as well as the events watched, so a missed event cannot hang a kill. */
  private gone(tracked: Tracked): Promise<void> {
    tracked.confirming ??= this.confirmExit(tracked);
    return tracked.gone;
  }

  /** Asks the engine until it confirms the container stopped; an error is an unanswered question, not a death. */
  private async confirmExit(tracked: Tracked): Promise<void> {
    for (let failures = 1; !tracked.exited; failures++) {
      try {
        const result: { StatusCode?: number } = await this.streams.getContainer(tracked.containerId).wait({ condition: 'not-running' });
        return await this.finish(tracked, result.StatusCode ?? null);
      } catch (error) {
        const state = await containerState(this.docker, tracked.containerId).catch(() => undefined);
        if (state && state.kind !== 'running') return this.finish(tracked, exitCodeOf(state));
        if (failures === 1 || failures % 10 === 0) {
          this.logger.warn({ err: error, workerId: tracked.handle.workerId, failures }, 'the engine has not confirmed the exit of a worker container yet; asking again');
        }
        await sleep(Math.min(CONFIRM_BACKOFF_MS * failures, CONFIRM_BACKOFF_MAX_MS));
      }
    }
  }

  private async signal(tracked: Tracked, signal: NodeJS.Signals): Promise<void> {
    const send = () =>
      this.docker
        .getContainer(tracked.containerId)
        .kill({ signal })
        .catch((error: unknown) => {
          // 409: not running (already dead, its event on the way); 404: removed by someone else.
          if (statusOf(error) !== 409 && statusOf(error) !== 404) throw error;
        });
    await retried(send, ENGINE_RETRY);
  }

  /** Saves a container's output to logDir, then removes it (stopping it first, with that grace, if given). */
  /** The worker's settings file: DATA_DIR/secrets/workers/<workerId>.json, a path the engine resolves on the host as the orchestrator does. */
  private settingsFile(workerId: string): string {
    return path.join(path.resolve(this.options.dataDir), 'secrets', 'workers', `${workerId}.json`);
  }

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
    if (workerId) fs.rmSync(this.settingsFile(workerId), { force: true });
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
      let state: ContainerState;
      try {
        state = await retried(() => containerState(this.docker, info.Id), ENGINE_RETRY);
      } catch (error) {
        // Unknown is not dead: the adoption fails, and is tried again, rather than lose a live worker.
        this.workers.delete(workerId);
        throw error;
      }
      if (state.kind === 'running') {
        tracked.handle.pid = state.pid;
        adopted.push(tracked.handle);
      } else void this.finish(tracked, exitCodeOf(state));
    }
    return adopted;
  }

  private clusterContainers(): Promise<Docker.ContainerInfo[]> {
    return this.docker.listContainers({ all: true, filters: { label: [`${LABELS.cluster}=${this.options.cluster}`] } });
  }

  /** After the event stream broke, deaths may have gone unseen: each tracked container is checked once. */
  private async recheck(): Promise<void> {
    for (const tracked of [...this.workers.values()]) {
      if (this.starting.has(tracked.handle.workerId)) continue;
      // No answer says nothing: the stream resumed from where it broke, so its 'die' event still comes.
      const state = await containerState(this.docker, tracked.containerId).catch(() => undefined);
      if (state && state.kind !== 'running') void this.finish(tracked, exitCodeOf(state));
    }
  }

  private onDie(containerId: string, exitCode: number | null): void {
    const tracked = [...this.workers.values()].find((worker) => worker.containerId === containerId);
    if (tracked) void this.finish(tracked, exitCode);
  }
}

function exitCodeOf(state: Exclude<ContainerState, { kind: 'running' }>): number | null {
  return state.kind === 'stopped' ? state.exitCode : null;
}
