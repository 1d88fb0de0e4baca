/**
 * What the HTTP routes call: validates structured requests, sends them to the right queue, and
 * remembers the highest seq it has acknowledged, so a `fresh` read can demand at least that.
 */
import { randomUUID } from 'node:crypto';
import { BadRequestError } from '../../shared/errors.ts';
import type { ReadResult, WriteResult } from '../protocol/messages.ts';
import type { ClusterNames } from '../protocol/names.ts';
import { parseRead, parseWrite, type Write } from '../protocol/queries.ts';
import type { RpcClient } from './RpcClient.ts';

const MAX_REQUEST_ID_LENGTH = 128;

export interface ReadAnswer {
  rows: ReadResult['rows'];
  seq: number;
}

export class DatabaseFrontend {
  private acknowledgedSeq = 0;

  constructor(
    private readonly rpc: RpcClient,
    private readonly names: ClusterNames,
    /** Told of every db/read request received, valid or not: the autoscaler's load measure. */
    private readonly onRead: () => void = () => undefined,
  ) {}

  async read(body: unknown): Promise<ReadAnswer> {
    this.onRead();
    const query = parseRead(body);
    if (query.fresh) query.minSeq = Math.max(query.minSeq ?? 0, this.acknowledgedSeq);
    const result = await this.rpc.call<ReadResult>(this.names.readQ, { v: 1, kind: 'read', query });
    return { rows: result.rows, seq: result.seq };
  }

  async write(body: unknown): Promise<WriteResult> {
    const { requestId, rest } = splitRequestId(body);
    return this.send(parseWrite(rest), requestId ?? randomUUID());
  }

  async clear(): Promise<void> {
    await this.send({ op: 'clear' }, randomUUID());
  }

  private async send(write: Write, requestId: string): Promise<WriteResult> {
    const result = await this.rpc.call<WriteResult>(this.names.writeQ, { v: 1, kind: 'write', requestId, write });
    this.acknowledgedSeq = Math.max(this.acknowledgedSeq, result.seq);
    return result;
  }
}

function splitRequestId(body: unknown): { requestId?: string; rest: unknown } {
  if (body === null || typeof body !== 'object' || Array.isArray(body) || !('requestId' in body)) return { rest: body };
  const { requestId, ...rest } = body as Record<string, unknown>;
  if (typeof requestId !== 'string' || requestId.length === 0 || requestId.length > MAX_REQUEST_ID_LENGTH) {
    throw new BadRequestError(`requestId must be a string of 1 to ${MAX_REQUEST_ID_LENGTH} characters`);
  }
  return { requestId, rest };
}
