/**
 * A worker's settings: what the supervisor decides for each worker (id, role, file) plus its
 * cluster's settings and the tuning every worker of a cluster shares, all typed. The runtime hands
 * them to the worker process as one JSON document in one environment variable; the worker checks
 * it with the same schema. There are no defaults here: they live in src/shared/config.ts only.
 */
import fs from 'node:fs';
import { z } from 'zod';
import type { ClusterSettings } from '../settings/ClusterSettings.ts';
import type { WorkerTuning } from '../settings/WorkerTuning.ts';
import { RideShareError } from '../../shared/errors.ts';

/** One flat document: this worker's own part, its cluster's and the cluster's worker tuning. */
export interface WorkerSettings extends ClusterSettings, WorkerTuning {
  workerId: string;
  role: 'master' | 'slave';
  dbFile: string;
  /** Cold start of a master: take over the most advanced worker file left in this folder. */
  recoverDir?: string;
}

/** The one environment variable a worker process reads (the process runtime's way). */
export const WORKER_SETTINGS_VARIABLE = 'RIDESHARE_WORKER_SETTINGS';
/**
 * Or the path of a file holding the same document (the docker runtime's way: a read-only mount,
 * so the settings' secrets are not in the container's environment, which docker inspect shows).
 */
export const WORKER_SETTINGS_FILE_VARIABLE = 'RIDESHARE_WORKER_SETTINGS_FILE';

const schema = z.strictObject({
  workerId: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/),
  role: z.enum(['master', 'slave']),
  dbFile: z.string().min(1),
  recoverDir: z.string().min(1).optional(),
  cluster: z.string().min(1),
  amqpUrl: z.string().min(1),
  zkConnect: z.string().min(1),
  zkSessionTimeoutMs: z.number().int().min(100),
  readWaitMs: z.number().int().min(1),
  snapshotTimeoutMs: z.number().int().min(100),
  durability: z.enum(['process', 'power']),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  clusterKey: z.string().min(16),
  zkAuth: z.strictObject({ user: z.string().min(1), password: z.string().min(1) }),
});

export function encodeWorkerSettings(settings: WorkerSettings): string {
  return JSON.stringify(schema.parse(settings));
}

export function decodeWorkerSettings(text: string | undefined): WorkerSettings {
  if (!text) throw new RideShareError('CONFIG_INVALID', `${WORKER_SETTINGS_VARIABLE} is not set: a worker is started by a worker runtime`);
  const parsed = schema.safeParse(JSON.parse(text));
  if (!parsed.success) {
    throw new RideShareError('CONFIG_INVALID', `invalid worker settings: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
  }
  const { recoverDir, ...rest } = parsed.data;
  return recoverDir === undefined ? rest : { ...rest, recoverDir };
}

/** The settings from the environment a runtime gave the worker: the file it names, else the variable. */
export function readWorkerSettings(env: NodeJS.ProcessEnv): WorkerSettings {
  const file = env[WORKER_SETTINGS_FILE_VARIABLE];
  return decodeWorkerSettings(file ? fs.readFileSync(file, 'utf8') : env[WORKER_SETTINGS_VARIABLE]);
}
