/**
 * What the HTTP routes call: validates structured requests and sends them to the right queue.
 * Writes carry a deadline the master honours (see RpcClient.writeDeadline). A `fresh` read
 * first learns the master's position, which covers every write acknowledged by any
 * orchestrator, and asks the answering slave for at least that.
 */
import { BadRequestError } from '../../shared/errors.ts';
import { currentRequestId, writeIdFor } from '../../shared/request-context.ts';
import { PROTOCOL_VERSION, type Position, type ReadResult, type WriteResult } from '../protocol/messages.ts';
import type { ClusterNames } from '../protocol/names.ts';
import { parseRead, parseWrite, type Write } from '../protocol/queries.ts';
import type { RpcClient } from './RpcClient.ts';

const MAX_REQUEST_ID_LENGTH = 128;

export interface ReadAnswer {
  rows: ReadResult['rows'];
  seq: number;
}

export class DatabaseFrontend {
  /** The position request that fresh reads arriving now will share (not yet sent). */
  private nextPosition: Promise<number> | undefined;
  /** The position request already sent: too early for a read that arrives after it left. */
  private sentPosition: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly rpc: RpcClient,
    private readonly names: ClusterNames,
    /** Told of every db/read request received, valid or not: the autoscaler's load measure. */
    private readonly onRead: () => void = () => undefined,
  ) {}

  async read(body: unknown): Promise<ReadAnswer> {
    this.onRead();
    const query = parseRead(body);
    if (query.fresh) {
      query.minSeq = Math.max(query.minSeq ?? 0, await this.masterPosition());
      delete query.fresh;
    }
    const result = await this.rpc.call<ReadResult>(this.names.readQ, { v: PROTOCOL_VERSION, kind: 'read', query, ...traced() });
    return { rows: result.rows, seq: result.seq };
  }

  async write(body: unknown): Promise<WriteResult> {
    const { requestId, rest } = splitRequestId(body);
    return this.send(parseWrite(rest), requestId ?? writeIdFor(currentRequestId()));
  }

  async clear(): Promise<void> {
    await this.send({ op: 'clear' }, writeIdFor(currentRequestId()));
  }

  private send(write: Write, requestId: string): Promise<WriteResult> {
    return this.rpc.call<WriteResult>(this.names.writeQ, { v: PROTOCOL_VERSION, kind: 'write', requestId, write, deadline: this.rpc.writeDeadline(), ...traced() });
  }

  /**
   * The master's applied seq, asked after the caller arrived: reads that arrive while a request
   * is on its way wait for the next one, and all reads that arrive meanwhile share that one.
   */
  private masterPosition(): Promise<number> {
    this.nextPosition ??= this.sentPosition.then(
      () => this.askPosition(),
      () => this.askPosition(),
    );
    return this.nextPosition;
  }

  private askPosition(): Promise<number> {
    this.nextPosition = undefined;
    const asked = this.rpc.call<Position>(this.names.writeQ, { v: PROTOCOL_VERSION, kind: 'position' }).then((position) => position.seq);
    this.sentPosition = asked.catch(() => undefined);
    return asked;
  }
}

/** The HTTP request's id, for the workers' logs. */
function traced(): { trace?: string } {
  const trace = currentRequestId();
  return trace === undefined ? {} : { trace };
}

function splitRequestId(body: unknown): { requestId?: string; rest: unknown } {
  if (body === null || typeof body !== 'object' || Array.isArray(body) || !('requestId' in body)) return { rest: body };
  const { requestId, ...rest } = body as Record<string, unknown>;
  if (typeof requestId !== 'string' || requestId.length === 0 || requestId.length > MAX_REQUEST_ID_LENGTH) {
    throw new BadRequestError(`requestId must be a string of 1 to ${MAX_REQUEST_ID_LENGTH} characters`);
  }
  return { requestId, rest };
}
