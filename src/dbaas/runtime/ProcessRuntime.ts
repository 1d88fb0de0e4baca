/**
 * Workers as local processes: each in its own process group (so a signal reaches the whole
 * worker, the tsx loader's helper included when it runs from source), its output in DATA_DIR/logs/<workerId>.log, its pid the OS pid.
 * Each carries its cluster's tag (worker-processes.ts), which is how a later orchestrator finds
 * and adopts it, and every signal is checked against the worker's recorded identity first.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { childEnvironment } from '../../shared/child-environment.ts';
import { entryPoint, nodeArgs, PROJECT_ROOT, runsCompiled } from '../../shared/entry-points.ts';
import type { Logger } from '../../shared/logger.ts';
import { isSameProcess, spawnGroupLeader } from '../../shared/processes.ts';
import { RuntimeLifecycle } from './RuntimeLifecycle.ts';
import { findClusterWorkers, identifyWorker, signalWorker, workerTag, type WorkerProcess } from './worker-processes.ts';
import { encodeWorkerSettings, WORKER_SETTINGS_VARIABLE } from '../worker/WorkerSettings.ts';
import type { WorkerExit, WorkerHandle, WorkerRuntime, WorkerRuntimeEvents, WorkerSpec } from './WorkerRuntime.ts';

/**
 * Compiled when the orchestrator runs compiled, as the one-file bundle `npm run build` makes
 * (scripts/build.mjs), else the source through tsx (see entry-points.ts).
 */
const WORKER_MAIN = entryPoint(runsCompiled ? 'dbaas/worker/main.bundle.js' : 'dbaas/worker/main.ts');
const DEFAULT_GRACE_MS = 5000;
/**
 * A smaller young generation: V8's default lets it grow to ~48 MB under a write burst, which
 * was most of the gap between an idle worker and one holding 100,000 rides (see BENCHMARKS.md).
 */
const WORKER_NODE_FLAGS = ['--max-semi-space-size=4'];
/**
 * A runtime adopts and clears away only the workers of its own network namespace: its own
 * children run there, and hosts sharing one machine's processes (a test bed) keep theirs apart.
 */
const OWN_NAMESPACE = { thisNetworkNamespaceOnly: true } as const;
/** How often an adopted worker (not our child: no exit event) is checked for life. */
const ADOPTED_POLL_MS = 100;

interface RunningWorker {
  handle: WorkerHandle;
  /** Unset only between spawn and the first look at /proc. */
  process: WorkerProcess | undefined;
  exited: Promise<WorkerExit>;
}

export interface ProcessRuntimeOptions {
  /** Tags every worker process, so the cluster's workers can be told from any other. */
  cluster: string;
  logDir: string;
  logger?: Logger;
  /** The worker's entry file; by default the one matching how this process runs (benchmarks compare both). */
  workerMain?: string;
}

export class ProcessRuntime extends EventEmitter<WorkerRuntimeEvents> implements WorkerRuntime {
  readonly kind = 'process' as const;
  private readonly workers = new Map<string, RunningWorker>();
  /** Whether earlier runs' workers were dealt with: adopted, or (before a first start) killed. */
  private claimed = false;
  /** Starts between the spawn and the worker's registration here: close() waits for them. */
  private readonly starting = new Set<Promise<unknown>>();
  private readonly lifecycle = new RuntimeLifecycle();

  constructor(private readonly options: ProcessRuntimeOptions) {
    super();
    fs.mkdirSync(options.logDir, { recursive: true });
  }

  async start(spec: WorkerSpec): Promise<WorkerHandle> {
    this.lifecycle.assertOpen(`start worker ${spec.workerId}`);
    const started = this.launch(spec);
    this.starting.add(started);
    try {
      return await started;
    } finally {
      this.starting.delete(started);
    }
  }

  private async launch(spec: WorkerSpec): Promise<WorkerHandle> {
    if (!this.claimed) this.killStrays();
    const child = spawnGroupLeader(process.execPath, [...WORKER_NODE_FLAGS, ...nodeArgs(this.options.workerMain ?? WORKER_MAIN), workerTag(this.options.cluster, spec.workerId)], {
      cwd: PROJECT_ROOT,
      // Everything a worker needs is in its settings: none of the orchestrator's tokens or other variables.
      env: childEnvironment([], { [WORKER_SETTINGS_VARIABLE]: encodeWorkerSettings(spec.settings) }),
      logFile: path.join(this.options.logDir, `${spec.workerId}.log`),
    });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid as number));
      child.once('error', reject);
    });
    const handle: WorkerHandle = { workerId: spec.workerId, pid };
    const exited = new Promise<WorkerExit>((resolve) => {
      child.once('exit', (code, signal) => resolve(this.forget({ workerId: spec.workerId, pid, code, signal })));
    });
    // Our child cannot be reaped unseen, so its identity is safe to read now (and it is exec'd by now).
    this.workers.set(spec.workerId, { handle, process: identifyWorker(pid, this.options.cluster, spec.workerId), exited });
    return handle;
  }

  /** Every running worker process of the cluster not yet ours (registered anywhere or not) is taken over. */
  async adopt(): Promise<WorkerHandle[]> {
    this.lifecycle.assertOpen('adopt workers');
    this.claimed = true;
    const adopted: WorkerHandle[] = [];
    for (const found of findClusterWorkers(this.options.cluster, OWN_NAMESPACE)) {
      if (this.workers.has(found.workerId)) continue;
      const handle: WorkerHandle = { workerId: found.workerId, pid: found.pid };
      this.workers.set(found.workerId, { handle, process: found, exited: this.watchAdopted(found) });
      adopted.push(handle);
    }
    if (adopted.length > 0) this.options.logger?.info({ workers: adopted }, 'adopted running worker processes');
    return adopted;
  }

  /** Not our child, so no exit event: its identity is polled, and a pid in a stranger's hands counts as an exit. */
  private watchAdopted(worker: WorkerProcess): Promise<WorkerExit> {
    return new Promise<WorkerExit>((resolve) => {
      const timer = setInterval(() => {
        // The process, not its tag: an exiting worker loses its argv before its files and sockets.
        if (isSameProcess(worker)) return;
        clearInterval(timer);
        resolve(this.forget({ workerId: worker.workerId, pid: worker.pid, code: null, signal: null }));
      }, ADOPTED_POLL_MS);
    });
  }

  /**
   * A cluster started afresh (no adoption) must not share the machine with workers of an earlier
   * run: unregistered, they could still take the master lease or writeQ. No grace for those.
   */
  private killStrays(): void {
    this.claimed = true;
    for (const stray of findClusterWorkers(this.options.cluster, OWN_NAMESPACE)) {
      if (this.workers.has(stray.workerId)) continue;
      this.options.logger?.warn({ workerId: stray.workerId, pid: stray.pid }, 'killing a worker process of an earlier run');
      signalWorker(stray, 'SIGKILL');
    }
  }

  private forget(exit: WorkerExit): WorkerExit {
    this.workers.delete(exit.workerId);
    this.emit('exit', exit);
    return exit;
  }

  list(): WorkerHandle[] {
    return [...this.workers.values()].map((worker) => worker.handle);
  }

  async kill(workerId: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const worker = this.workers.get(workerId);
    if (!worker) return;
    this.signal(worker, signal);
    if (signal === 'SIGKILL' || signal === 'SIGTERM') await worker.exited;
  }

  async stop(workerId: string, graceMs = DEFAULT_GRACE_MS): Promise<void> {
    const worker = this.workers.get(workerId);
    if (!worker) return;
    this.signal(worker, 'SIGTERM');
    const timer = setTimeout(() => this.signal(worker, 'SIGKILL'), graceMs);
    await worker.exited;
    clearTimeout(timer);
  }

  /**
   * Lets the starts in progress finish, then stops every worker. Final: a closed runtime starts
   * and adopts nothing. Idempotent: a second call returns the first one's promise.
   */
  close(): Promise<void> {
    return this.lifecycle.close(async () => {
      await Promise.allSettled(this.starting);
      await Promise.all([...this.workers.keys()].map((workerId) => this.stop(workerId)));
    });
  }

  private signal(worker: RunningWorker, signal: NodeJS.Signals): void {
    if (worker.process) signalWorker(worker.process, signal);
  }
}
