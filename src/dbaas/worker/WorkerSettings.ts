/** A worker's settings, given by its runtime through the environment and validated at start. */
import { z } from 'zod';

const schema = z.object({
  WORKER_ID: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/),
  WORKER_ROLE: z.enum(['master', 'slave']),
  WORKER_DB_FILE: z.string().min(1),
  /** Cold start of a master: take over the most advanced worker file left in this folder. */
  WORKER_RECOVER_DIR: z.string().optional(),
  RIDESHARE_CLUSTER: z.string().min(1),
  AMQP_URL: z.string().min(1),
  ZK_CONNECT: z.string().min(1),
  ZK_SESSION_TIMEOUT_MS: z.coerce.number().int().min(100).default(4000),
  READ_WAIT_MS: z.coerce.number().int().min(1).default(2000),
  /** See DURABILITY in src/shared/config.ts. */
  DURABILITY: z.enum(['process', 'power']).default('process'),
  /** How long a joining replica waits for someone to send it a snapshot. */
  SNAPSHOT_TIMEOUT_MS: z.coerce.number().int().min(100).default(30000),
  LOG_LEVEL: z.string().default('info'),
});

export type WorkerSettings = z.infer<typeof schema>;

export function loadWorkerSettings(env: NodeJS.ProcessEnv = process.env): WorkerSettings {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    throw new Error(`invalid worker settings: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
  }
  return parsed.data;
}
