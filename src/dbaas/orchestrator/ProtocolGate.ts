/**
 * During a rolling upgrade the workers may still be of the previous protocol version while this
 * orchestrator is of the new one: they would refuse its commands unanswered (and it their
 * replies), and every db call would fail at its deadline. So db calls are sent to the workers
 * only while every registered worker speaks this orchestrator's protocol. Once workers of another
 * protocol were seen, calls go to the workers again only when none is left and workers of this
 * protocol serve (a write needs the master, a read a slave). Until then a standby
 * passes the call to the supervising orchestrator over HTTP (the public db API is the same in
 * every version, and the supervisor of the previous release still talks to its workers), and
 * the supervisor itself, or a standby with no supervisor to pass to, holds the call until
 * workers of its protocol serve (the supervisor replaces the older ones:
 * src/dbaas/supervisor/ProtocolUpgrade.ts), within the call's deadline; past it, a 503, which
 * the retry contract covers (nothing was sent, so nothing was applied).
 *
 * What the workers speak is read from ZooKeeper in the background (their registrations), so
 * the hot path checks one boolean.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { UnavailableError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import { sleep } from '../../shared/timeout.ts';
import { PROTOCOL_VERSION } from '../protocol/messages.ts';
import type { WorkerInfo } from '../coordination/worker-registry.ts';
import { protocolOf, speaksOurProtocol } from '../protocol/worker-protocol.ts';
import type { SupervisorForwarder } from './SupervisorForwarder.ts';

/** While the workers speak our protocol: a change (only a downgrade) is noticed within this. */
const SETTLED_POLL_MS = 1000;
/** While they do not: how soon a call held here learns that workers of our protocol serve. */
const WAITING_POLL_MS = 100;
/** How long after a master of ours serves the gate waits for a slave of ours before it opens anyway. */
const SLAVE_GRACE_MS = 15_000;

export interface ProtocolGateOptions {
  /** The registered workers (ZooKeeper). */
  workers(): Promise<WorkerInfo[]>;
  /** Passes a call to the supervising orchestrator, or runs the given local handling if this one supervises. */
  forwarder: SupervisorForwarder;
  /** How long a held call waits at most when its caller gave no time budget. */
  maxWaitMs: number;
  logger: Logger;
}

/** What a held call needs: a write, a ready master of ours; a read, a ready slave of ours (only slaves serve reads). */
export type GatedCall = 'read' | 'write';

export class ProtocolGate {
  /**
   * Workers of another protocol were seen and the cluster does not yet serve with workers of
   * ours alone: calls are passed on or held. Otherwise (every registered worker speaks ours, or
   * none was ever of another protocol: an ordinary failover) they go to the workers.
   */
  private upgrading = false;
  /** The workers as last read, for held calls: none of another protocol left, a ready master and slave of ours. */
  private serves = { master: false, slave: false };
  /** When a ready master of ours was first seen with no other worker left (the slaves may take a moment more). */
  private masterServesSince: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private polling: Promise<void> = Promise.resolve();
  private lastReported = '';

  constructor(private readonly options: ProtocolGateOptions) {}

  /** Calls go straight to the workers (no rolling upgrade in progress): the lean path may answer them. */
  get open(): boolean {
    return !this.upgrading;
  }

  /** Reads the workers once before the first call is served, then keeps watching. */
  async start(): Promise<void> {
    await this.refresh();
    this.arm();
  }

  stop(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    return this.polling;
  }

  /**
   * `local` sends the call to the workers; `deadline`: when the caller stops waiting (ms,
   * performance.now()); without one, a held call waits at most maxWaitMs, so that with the
   * call's own RPC it still ends within the caller's patience.
   */
  handle(request: FastifyRequest, reply: FastifyReply, call: GatedCall, deadline: number | undefined, local: () => Promise<unknown>): Promise<unknown> {
    if (!this.upgrading) return local();
    const held = async () => {
      await this.waitUntilServed(call, deadline ?? performance.now() + this.options.maxWaitMs);
      return local();
    };
    // A supervisor of the previous release that is stopping answers 503: the call is held here instead
    // (a write keeps its requestId, so it is applied once whichever orchestrator sends it).
    return this.options.forwarder.handle(request, reply, held, { localWhenUnavailable: true });
  }

  private async waitUntilServed(call: GatedCall, deadline: number): Promise<void> {
    while (this.upgrading && !(call === 'write' ? this.serves.master : this.serves.slave)) {
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new UnavailableError(`the database workers are being replaced by workers of this orchestrator's protocol (${PROTOCOL_VERSION}); retry`);
      }
      await sleep(Math.min(WAITING_POLL_MS, left));
    }
  }

  private arm(): void {
    if (this.closed) return;
    this.timer = setTimeout(
      () => {
        this.polling = this.refresh().finally(() => this.arm());
      },
      this.upgrading ? WAITING_POLL_MS : SETTLED_POLL_MS,
    );
  }

  private async refresh(): Promise<void> {
    let workers: WorkerInfo[];
    try {
      workers = await this.options.workers();
    } catch {
      return; // ZooKeeper unreachable for a moment: the last known state stands.
    }
    const others = workers.filter((worker) => !speaksOurProtocol(worker));
    // Not before workers of ours serve: the older workers' registrations vanish well before a new master is ready.
    const ours = (role: WorkerInfo['role']) => others.length === 0 && workers.some((worker) => worker.role === role && worker.ready && speaksOurProtocol(worker));
    this.serves = { master: ours('master'), slave: ours('slave') };
    this.masterServesSince = this.serves.master ? (this.masterServesSince ?? performance.now()) : undefined;
    if (others.length > 0) this.upgrading = true;
    // A cluster kept without slaves never gets one: its reads fail as they always would, past the grace.
    else if (this.serves.master && (this.serves.slave || performance.now() - (this.masterServesSince ?? 0) > SLAVE_GRACE_MS)) this.upgrading = false;
    const report = this.upgrading ? others.map((worker) => `${worker.workerId}:${protocolOf(worker)}`).join(',') || `waiting:${this.serves.master}` : '';
    if (report === this.lastReported) return;
    this.lastReported = report;
    if (others.length === 0) {
      if (this.upgrading) this.options.logger.info({ ourProtocol: PROTOCOL_VERSION, serves: this.serves }, 'the workers of another protocol are gone: db calls wait here for workers of ours');
      else this.options.logger.info({ ourProtocol: PROTOCOL_VERSION }, 'a master of this orchestrator\u2019s protocol serves: db calls go to the workers');
    } else {
      this.options.logger.warn(
        { ourProtocol: PROTOCOL_VERSION, workers: others.map((worker) => ({ workerId: worker.workerId, pid: worker.pid, role: worker.role, protocol: protocolOf(worker) })) },
        'workers of another protocol version serve: db calls go to the supervising orchestrator, or wait here for workers of ours',
      );
    }
  }
}
