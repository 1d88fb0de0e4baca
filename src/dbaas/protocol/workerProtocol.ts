/**
 * Which protocol a registered worker speaks. Workers record it in their znode since protocol 4;
 * a record without it was written by a worker of protocol 3 or older, which an orchestrator of
 * this version cannot talk to (the signed envelope differs, so each side refuses the other's
 * messages unanswered): the supervisor replaces such workers and the other orchestrators do
 * not send them commands meanwhile (docs/operations.md, "Upgrading across protocol versions").
 */
import { PROTOCOL_VERSION } from './messages.ts';
import type { WorkerInfo } from './names.ts';

/** What a registration without a protocol field stands for: the last version that did not write it. */
export const UNRECORDED_PROTOCOL = 3;

export function protocolOf(worker: Pick<WorkerInfo, 'protocol'>): number {
  return worker.protocol ?? UNRECORDED_PROTOCOL;
}

/** True when this process can exchange messages with the worker. */
export function speaksOurProtocol(worker: Pick<WorkerInfo, 'protocol'>): boolean {
  return protocolOf(worker) === PROTOCOL_VERSION;
}
