/**
 * What the HTTP routes call: validates structured requests and sends them to the right queue.
 * Writes carry a deadline the master honours (see RpcClient.writeDeadline). A `fresh` read
 * first learns the master's position, which covers every write acknowledged by any
 * orchestrator, and asks the answering slave for at least that.
 */
import type { Role } from '../../shared/auth/tokens.ts';
import { BadRequestError, RideShareError } from '../../shared/errors.ts';
import { writeIdFor } from '../../shared/request-context.ts';
import { PROTOCOL_VERSION } from '../protocol/messages.ts';
import { decodePosition, decodeReadResult, decodeWriteResult, type ReadResult, type WriteResult } from '../protocol/results.ts';
import type { ClusterNames } from '../protocol/names.ts';
import { parseRead, parseWrite, secretColumnsNamed, type ReadQuery, type Write } from '../protocol/queries.ts';
import { publicColumnsOf } from '../protocol/tables.ts';
import { capByDefault, cutAtCap, type CutAnswer } from './read-cap.ts';
import { writeAccess } from './access.ts';
import type { RpcClient } from './RpcClient.ts';

const MAX_REQUEST_ID_LENGTH = 128;

/** A read's rows; `truncated` and `nextOffset` when a read without a limit had more than the default cap. */
export type ReadAnswer = { rows: ReadResult['rows']; seq: number } & Partial<CutAnswer>;

/** Who is asking: the role their token proved (src/shared/http/auth.ts) and the HTTP request's id, which goes with the command to the workers' logs. */
export interface Caller {
  role: Role | undefined;
  requestId?: string | undefined;
}

export class DatabaseFrontend {
  /** The position request that fresh reads arriving now will share (not yet sent). */
  private nextPosition: Promise<number> | undefined;
  /** The position request already sent: too early for a read that arrives after it left. */
  private sentPosition: Promise<unknown> = Promise.resolve();
  /** The highest seq this orchestrator has seen acknowledged or applied: a minSeq up to it is surely real. */
  private highestSeen = 0;

  constructor(
    private readonly rpc: RpcClient,
    private readonly names: ClusterNames,
    /**
     * Told of every valid db/read from a caller allowed to read: the autoscaler's load measure.
     * Junk, strangers and a minSeq beyond every acknowledged write are refused before they count, so they cannot make the cluster grow.
     */
    private readonly onRead: () => void = () => undefined,
  ) {}

  /** Only the admin role may name a secret column. */
  async read(body: unknown, { role, requestId }: Caller): Promise<ReadAnswer> {
    const query = parseRead(body);
    guardSecrets(query, role);
    if (query.fresh) {
      query.minSeq = Math.max(query.minSeq ?? 0, await this.masterPosition());
      delete query.fresh;
    } else if (query.minSeq !== undefined && query.minSeq > this.highestSeen) {
      await this.checkAcknowledged(query.minSeq);
    }
    this.onRead();
    if (role !== 'admin' && query.columns === undefined && query.count !== true) query.columns = publicColumnsOf(query.table);
    const capped = capByDefault(query);
    const result = await this.rpc.call(this.names.readQ, { v: PROTOCOL_VERSION, kind: 'read', query, ...traced(requestId) }, decodeReadResult);
    this.see(result.seq);
    if (!capped) return { rows: result.rows, seq: result.seq };
    const { rows, cut } = cutAtCap(result.rows, query);
    return { rows, seq: result.seq, ...cut };
  }

  /** `budgetMs`: how long the caller waits at most (src/shared/http/time-budget.ts); the write's deadline falls within it. */
  async write(body: unknown, { role, requestId: trace }: Caller, budgetMs?: number): Promise<WriteResult> {
    const { requestId, rest } = splitRequestId(body);
    const write = parseWrite(rest);
    guardOperation(write, role);
    guardSecrets(write, role);
    const result = await this.send(write, requestId ?? writeIdFor(trace), trace, budgetMs);
    this.see(result.seq);
    return result;
  }

  /**
   * A minSeq no write was ever acknowledged with would hold a slave's slot until READ_WAIT_MS
   * for nothing: it is refused at once. The master's position covers every acknowledged write.
   */
  private async checkAcknowledged(minSeq: number): Promise<void> {
    const position = await this.masterPosition();
    if (minSeq > position) throw new BadRequestError(`minSeq ${minSeq} is beyond the last acknowledged write (seq ${position})`);
  }

  private see(seq: number): void {
    if (seq > this.highestSeen) this.highestSeen = seq;
  }

  /** `trace`: the HTTP request's id. */
  async clear(trace?: string): Promise<void> {
    await this.send({ op: 'clear' }, writeIdFor(trace), trace);
  }

  private send(write: Write, requestId: string, trace: string | undefined, budgetMs?: number): Promise<WriteResult> {
    return this.rpc.call(this.names.writeQ, { v: PROTOCOL_VERSION, kind: 'write', requestId, write, deadline: this.rpc.writeDeadline(budgetMs), ...traced(trace) }, decodeWriteResult);
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
    const asked = this.rpc.call(this.names.writeQ, { v: PROTOCOL_VERSION, kind: 'position' }, decodePosition).then((position) => {
      this.see(position.seq);
      return position.seq;
    });
    this.sentPosition = asked.catch(() => undefined);
    return asked;
  }
}

/** The HTTP request's id, for the workers' logs. */
function traced(trace: string | undefined): { trace?: string } {
  return trace === undefined ? {} : { trace };
}

/** `db/write {"op":"clear"}` with the service token must not do what `db/clear` refuses it. */
function guardOperation(write: Write, role: Role | undefined): void {
  if (role === 'admin' || writeAccess(write) !== 'admin') return;
  const what = write.op === 'clear' ? 'a clear' : `a ${write.op} without a condition (every row of '${write.table}')`;
  throw new RideShareError('FORBIDDEN', `${what} needs the admin role`);
}

/** Only the admin role may read, match or sort on a secret column (password hashes). */
function guardSecrets(request: ReadQuery | Write, role: Role | undefined): void {
  if (role === 'admin') return;
  const named = secretColumnsNamed(request);
  if (named.length > 0) throw new RideShareError('FORBIDDEN', `only the admin role may use the column${named.length > 1 ? 's' : ''} ${named.join(', ')}`);
}

function splitRequestId(body: unknown): { requestId?: string; rest: unknown } {
  if (body === null || typeof body !== 'object' || Array.isArray(body) || !('requestId' in body)) return { rest: body };
  const { requestId, ...rest } = body as Record<string, unknown>;
  if (typeof requestId !== 'string' || requestId.length === 0 || requestId.length > MAX_REQUEST_ID_LENGTH) {
    throw new BadRequestError(`requestId must be a string of 1 to ${MAX_REQUEST_ID_LENGTH} characters`);
  }
  return { requestId, rest };
}
