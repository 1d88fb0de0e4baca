/**
 * Where workers run. A runtime starts, lists, signals and watches workers; it decides nothing
 * (the supervisor does). One file per implementation: local processes, Docker containers.
 */
import type { EventEmitter } from 'node:events';
import type { WorkerSettings } from '../worker/WorkerSettings.ts';
import type { HostFile } from '../coordination/assignments.ts';

export interface WorkerSpec {
  workerId: string;
  role: 'master' | 'slave';
  /** Why it starts (a runtime that places workers on hosts records it with the placement). */
  reason?: string;
  /** Everything the worker process needs, typed; the runtime passes it on unchanged. */
  settings: WorkerSettings;
  /** A runtime that places workers on hosts starts it there (a master restarted from the files of that host); others ignore it. */
  host?: string;
}

export interface WorkerHandle {
  workerId: string;
  /** The OS pid of the worker (a local process, or a container's main process as the host sees it). */
  pid: number;
}

export interface WorkerExit {
  workerId: string;
  pid: number;
  code: number | null;
  signal: string | null;
}

export interface WorkerRuntimeEvents {
  exit: [WorkerExit];
}

export interface WorkerRuntime extends EventEmitter<WorkerRuntimeEvents> {
  readonly kind: 'process' | 'docker';
  start(spec: WorkerSpec): Promise<WorkerHandle>;
  list(): WorkerHandle[];
  /** Sends a signal (SIGKILL by default) and resolves once the worker is gone. */
  kill(workerId: string, signal?: NodeJS.Signals): Promise<void>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the worker is gone. */
  stop(workerId: string, graceMs?: number): Promise<void>;
  /**
   * Takes over every running worker of the cluster it does not run yet, found by itself (a tag on
   * the process, a label on the container), registered in ZooKeeper or not: a worker started by a
   * dead supervisor a moment before it died is found too. Returns those it took over; from then on
   * they are listed, watched and killed as its own.
   */
  adopt(): Promise<WorkerHandle[]>;
  /**
   * A runtime that places workers on hosts: a slave it would place elsewhere now (it shares the
   * master's host while a host without the master has an agent), which the supervisor moves
   * there. Runtimes of one host have none and need not implement it.
   */
  misplacedSlave?(live: readonly { workerId: string; role: 'master' | 'slave' }[]): string | undefined;
  /**
   * A runtime that places workers on hosts: every host whose agent runs now, with the best worker
   * file its agent reported (where a restart from files must start the master: restart-host.ts).
   */
  filesOnHosts?(): ReadonlyMap<string, HostFile | undefined>;
  /**
   * Stops every worker this runtime started or adopted, once the starts in progress have finished;
   * from then on it starts and adopts nothing. Idempotent: a second call waits for the first.
   */
  close(): Promise<void>;
}
