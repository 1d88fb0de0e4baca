/** Picks the worker runtime named by WORKER_RUNTIME: local processes (the default) or Docker containers. */
import type { Logger } from '../../shared/logger.ts';
import { DockerRuntime } from './DockerRuntime.ts';
import { ProcessRuntime } from './ProcessRuntime.ts';
import type { WorkerRuntime } from './WorkerRuntime.ts';

export type RuntimeKind = WorkerRuntime['kind'];

export interface CreateRuntimeOptions {
  cluster: string;
  dataDir: string;
  /** Workers' output: live in a file per worker (process), or saved there when a container exits (docker). */
  logDir: string;
  /** The worker image (docker only; config WORKER_IMAGE), built by `npm run images`. */
  image: string;
  logger: Logger;
}

export function createRuntime(kind: RuntimeKind, options: CreateRuntimeOptions): WorkerRuntime {
  switch (kind) {
    case 'process':
      return new ProcessRuntime({ cluster: options.cluster, logDir: options.logDir, logger: options.logger });
    case 'docker':
      return new DockerRuntime(options);
  }
}
