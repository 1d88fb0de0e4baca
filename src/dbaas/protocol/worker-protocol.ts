/**
 * Which protocol a registered worker speaks. Workers record it in their znode since protocol 4;
 * a record without it was written by a worker of protocol 3 or older, which an orchestrator of
 * this version cannot talk to (the signed envelope differs, so each side refuses the other's
 * messages unanswered): the supervisor replaces such workers and the other orchestrators do
 * not send them commands meanwhile (docs/operations.md, "Upgrading across protocol versions").
 */
import { PROTOCOL_VERSION } from './messages.ts';

/** What a registration without a protocol field stands for: the last version that did not write it. */
export const UNRECORDED_PROTOCOL = 3;

/** The part of a worker's registration (src/dbaas/coordination/worker-registry.ts) that says it. */
type ProtocolRecorded = { protocol?: number | undefined };

export function protocolOf(worker: ProtocolRecorded): number {
  return worker.protocol ?? UNRECORDED_PROTOCOL;
}

/** True when this process can exchange messages with the worker. */
export function speaksOurProtocol(worker: ProtocolRecorded): boolean {
  return protocolOf(worker) === PROTOCOL_VERSION;
}
