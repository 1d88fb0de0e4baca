/**
 * Calls only the supervising orchestrator can act on (crash, setting the slave count; db calls
 * while the workers speak another protocol version, src/dbaas/orchestrator/ProtocolGate.ts) may reach
 * any orchestrator: a standby passes them to the supervising one (found in ZooKeeper) and answers
 * with its answer, so clients, graders and the console need not know which one supervises, even
 * after a rolling restart moved supervision. A passed-on call is never passed on again: if
 * supervision moved meanwhile, the receiver answers it itself (a 503 naming the supervisor).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { request as send } from 'undici';
import { boundedAgent } from '../../shared/http/bounded-agent.ts';
import { TIME_BUDGET_HEADER } from '../../shared/http/time-budget.ts';
import { REQUEST_ID_HEADER } from '../../shared/request-context.ts';

const FORWARDED_HEADER = 'x-rideshare-forwarded-by';

export interface SupervisorForwarderOptions {
  isSupervising(): boolean;
  /** The supervising orchestrator's base URL, if ZooKeeper knows it. */
  supervisorUrl(): Promise<string | undefined>;
  /** This orchestrator's id, for the forwarded-by header. */
  orchestratorId: string;
  /** The whole forwarded call (a crash waits for the worker to die). */
  timeoutMs: number;
}

export class SupervisorForwarder {
  constructor(private readonly options: SupervisorForwarderOptions) {}

  /**
   * Runs `local` here if this orchestrator supervises (or the call was passed on already), else passes the call on.
   * `localWhenUnavailable`: a 503 of the supervisor (stopping, or without its broker) is not passed back; the call runs here instead.
   */
  async handle(request: FastifyRequest, reply: FastifyReply, local: () => Promise<unknown>, { localWhenUnavailable = false } = {}): Promise<unknown> {
    if (this.options.isSupervising() || request.headers[FORWARDED_HEADER] !== undefined) return local();
    const target = await this.options.supervisorUrl().catch(() => undefined);
    if (target === undefined) return local();
    let answer: { status: number; type: string; text: string };
    try {
      const response = await send(`${target}${request.url}`, {
        method: request.method as 'POST' | 'PUT',
        headers: {
          [FORWARDED_HEADER]: this.options.orchestratorId,
          [REQUEST_ID_HEADER]: request.id,
          ...(request.headers.authorization === undefined ? {} : { authorization: request.headers.authorization }),
          // A db write passed on during a rolling upgrade keeps its caller's time budget.
          ...(typeof request.headers[TIME_BUDGET_HEADER] === 'string' ? { [TIME_BUDGET_HEADER]: request.headers[TIME_BUDGET_HEADER] } : {}),
          ...(request.body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: request.body === undefined ? undefined : JSON.stringify(request.body),
        dispatcher: boundedAgent(this.options.timeoutMs),
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      answer = { status: response.statusCode, type: String(response.headers['content-type'] ?? 'application/json'), text: await response.body.text() };
    } catch {
      // The supervisor just went away: answer here, which says who supervises now (or that nobody does).
      return local();
    }
    if (localWhenUnavailable && answer.status === 503) return local();
    return reply.code(answer.status).type(answer.type).send(answer.text);
  }
}
