/**
 * The shapes of the cluster's znodes, checked on every read: a node that does not hold what its
 * path promises (a hand edit, a client of another version, a stranger before the ACLs) reads as
 * holding nothing, as a node that does not parse as JSON always has, and is logged by the client
 * (src/dbaas/coordination/ZkClient.ts). Unknown fields are kept, so a newer writer's additions
 * pass through an older reader.
 */
import { z } from 'zod';
import type { PromotionRequest, WorkerInfo } from '../protocol/names.ts';
import type { ClusterEvent } from './ClusterHistory.ts';
import type { MasterRecord } from './MasterLease.ts';
import type { OrchestratorRecord } from './OrchestratorRegistry.ts';
import type { SupervisorRecord } from './SupervisorLease.ts';

const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const pid = z.number().int().min(1);
const id = z.string().min(1).max(200);

export const workerInfoRecord: z.ZodType<WorkerInfo> = z.looseObject({
  workerId: id,
  pid,
  role: z.enum(['master', 'slave']),
  ready: z.boolean(),
  appliedSeq: count,
  epoch: count,
  startedAt: count.optional(),
  // Absent in the records of workers of protocol 3 and older, which must still read.
  protocol: z.number().int().min(1).max(1_000_000).optional(),
});

export const promotionRecord: z.ZodType<PromotionRequest> = z.looseObject({ workerId: id, requestedAt: count });

export const masterRecord: z.ZodType<MasterRecord> = z.looseObject({ workerId: id, pid, epoch: count });

export const supervisorRecord: z.ZodType<SupervisorRecord> = z.looseObject({ orchestratorId: id, pid, url: z.string().max(2000).optional() });

export const orchestratorRecord: z.ZodType<OrchestratorRecord> = z.looseObject({ orchestratorId: id, pid, url: z.string().max(2000), startedAt: count });

export const readCountRecord = z.looseObject({ total: count });

/** /desired-slaves and /epoch: a bare non-negative integer. */
export const countRecord = count;

/** The supervision history is only shown, never acted on: each entry needs a time and a kind. */
export const historyRecord = z.array(z.looseObject({ at: z.string(), kind: z.string() })) as unknown as z.ZodType<ClusterEvent[]>;
