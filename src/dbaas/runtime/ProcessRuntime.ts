/**
 * Workers as local processes: each in its own process group (so a signal reaches the whole
 * worker, tsx loader included), its output in DATA_DIR/logs/<workerId>.log, its pid the OS pid.
 */
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkerExit, WorkerHandle, WorkerRuntime, WorkerRuntimeEvents, WorkerSpec } from './WorkerRuntime.ts';

const WORKER_MAIN = fileURLToPath(new URL('../worker/main.ts', import.meta.url));
/** The project root, so `--import tsx` resolves from the project's node_modules. */
const PROJECT_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DEFAULT_GRACE_MS = 5000;
/**
 * A smaller young generation: V8's default lets it grow to ~48 MB under a write burst, which
 * was most of the gap between an idle worker and one holding 100,000 rides (see BENCHMARKS.md).
 */
const WORKER_NODE_FLAGS = ['--max-semi-space-size=4'];

interface RunningWorker {
  handle: WorkerHandle;
  exited: Promise<WorkerExit>;
}

/** How often an adopted worker (not our child: no exit event) is checked for life. */
const ADOPTED_POLL_MS = 100;

export interface ProcessRuntimeOptions {
  logDir: string;
}

export class ProcessRuntime extends EventEmitter<WorkerRuntimeEvents> implements WorkerRuntime {
  readonly kind = 'process' as const;
  private readonly workers = new Map<string, RunningWorker>();

  constructor(private readonly options: ProcessRuntimeOptions) {
    super();
    fs.mkdirSync(options.logDir, { recursive: true });
  }

  async start(spec: WorkerSpec): Promise<WorkerHandle> {
    const log = fs.openSync(path.join(this.options.logDir, `${spec.workerId}.log`), 'a');
    const child = spawn(process.execPath, [...WORKER_NODE_FLAGS, '--import', 'tsx', WORKER_MAIN], {
      env: { ...process.env, ...spec.env },
      stdio: ['ignore', log, log],
      detached: true,
      cwd: PROJECT_ROOT,
    });
    fs.closeSync(log);
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid as number));
      child.once('error', reject);
    });
    const handle: WorkerHandle = { workerId: spec.workerId, pid };
    const exited = new Promise<WorkerExit>((resolve) => {
      child.once('exit', (code, signal) => resolve(this.forget({ workerId: spec.workerId, pid, code, signal })));
    });
    this.workers.set(spec.workerId, { handle, exited });
    return handle;
  }

  async adopt(known: WorkerHandle[]): Promise<WorkerHandle[]> {
    const adopted = known.filter((handle) => !this.workers.has(handle.workerId) && isAlive(handle.pid));
    for (const handle of adopted) {
      const exited = new Promise<WorkerExit>((resolve) => {
        const timer = setInterval(() => {
          if (isAlive(handle.pid)) return;
          clearInterval(timer);
          resolve(this.forget({ ...handle, code: null, signal: null }));
        }, ADOPTED_POLL_MS);
      });
      this.workers.set(handle.workerId, { handle, exited });
    }
    return adopted;
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
    signalGroup(worker.handle.pid, signal);
    if (signal === 'SIGKILL' || signal === 'SIGTERM') await worker.exited;
  }

  async stop(workerId: string, graceMs = DEFAULT_GRACE_MS): Promise<void> {
    const worker = this.workers.get(workerId);
    if (!worker) return;
    signalGroup(worker.handle.pid, 'SIGTERM');
    const timer = setTimeout(() => signalGroup(worker.handle.pid, 'SIGKILL'), graceMs);
    await worker.exited;
    clearTimeout(timer);
  }

  async close(): Promise<void> {
    await Promise.all([...this.workers.keys()].map((workerId) => this.stop(workerId)));
  }
}

/** Alive and not a zombie (a killed orphan can linger as one until init reaps it). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}
