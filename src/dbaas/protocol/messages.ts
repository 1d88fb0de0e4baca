/**
 * The commands an orchestrator sends to the workers, declared once as schemas that both sides
 * import; the types are inferred from them. Every message carries `v` (the protocol version) so a
 * mixed-version cluster fails loudly, and every message a worker receives is decoded with a
 * schema, never cast: a malformed one is refused, not executed. Replies, results and the sync
 * stream have files of their own (reply.ts, results.ts, sync.ts).
 */
import { z } from 'zod';
import { describeZodError, parseRead, parseWrite } from './queries.ts';
import { InvalidRequestError } from './wire-errors.ts';

export const PROTOCOL_VERSION = 4;

/** The `v` of every message of the protocol. */
export const versionSchema = z.literal(PROTOCOL_VERSION);

/** The most commands one batch message carries; a sender splits larger batches. */
export const MAX_BATCH = 64;

/** The id of the HTTP request a command serves (X-Request-Id), for the workers' logs. */
const traceSchema = z
  .string()
  .regex(/^[A-Za-z0-9._:-]{1,128}$/)
  .optional();

/*
 * The query or write inside a command is checked by queries.ts (its shape, then the tables,
 * columns and values it names) in a transform of the whole command: zod runs it only once the
 * rest of the message has passed, so a command is refused first for what is wrong around it.
 */
const readCommandSchema = z.object({ v: versionSchema, kind: z.literal('read'), query: z.unknown(), trace: traceSchema }).transform((command) => ({ ...command, query: parseRead(command.query) }));

/**
 * A write carries an absolute deadline (ms since the epoch): the master never applies it later,
 * so a caller that gave up at the deadline knows the write can no longer be applied behind its back.
 */
const writeCommandSchema = z
  .object({
    v: versionSchema,
    kind: z.literal('write'),
    requestId: z.string().min(1).max(256),
    write: z.unknown(),
    deadline: z.number().int().positive(),
    trace: traceSchema,
  })
  .transform((command) => ({ ...command, write: parseWrite(command.write) }));

/** Asks the master for the seq it has applied, which covers every write acknowledged so far. */
const positionCommandSchema = z.object({ v: versionSchema, kind: z.literal('position') });

/** A request published by an orchestrator on readQ or writeQ. */
const singleCommandSchema = z.discriminatedUnion('kind', [readCommandSchema, writeCommandSchema, positionCommandSchema]);
export type SingleCommand = z.infer<typeof singleCommandSchema>;

/**
 * Several commands in one message (what an orchestrator gathered in one turn of its event loop),
 * answered by one reply whose result holds each command's own reply, in order. Each command is
 * decoded on its own and succeeds or fails alone.
 */
const batchSchema = z.object({ v: versionSchema, kind: z.literal('batch'), commands: z.array(z.unknown()).min(1).max(MAX_BATCH) });
export type BatchCommand = Omit<z.infer<typeof batchSchema>, 'commands'> & { commands: SingleCommand[] };

export type DbCommand = SingleCommand | BatchCommand;

export function encode(message: unknown): Buffer {
  return Buffer.from(JSON.stringify(message));
}

/** JSON, or an InvalidRequestError saying what did not parse. */
export function parseJson(content: Buffer, what: string): unknown {
  try {
    return JSON.parse(content.toString('utf8'));
  } catch {
    throw new InvalidRequestError(`${what} is not JSON`);
  }
}

/** JSON checked against a schema; any failure is an InvalidRequestError saying what is wrong. */
export function checked<T>(schema: z.ZodType<T>, json: unknown, what: string): T {
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new InvalidRequestError(`${what}: ${describeZodError(parsed.error)}`);
  return parsed.data;
}

/**
 * The commands a request message carries: one, or a batch's; the query or write inside each is
 * checked against the table registry too. A malformed command of a batch is an error in its
 * place (it fails alone); a malformed message throws.
 */
export function decodeCommands(content: Buffer): { batched: boolean; commands: (SingleCommand | InvalidRequestError)[] } {
  const json = parseJson(content, 'command');
  if ((json as { kind?: unknown } | null)?.kind !== 'batch') return { batched: false, commands: [checked(singleCommandSchema, json, 'command')] };
  const batch = checked(batchSchema, json, 'batch');
  const commands = batch.commands.map((command, index) => {
    try {
      return checked(singleCommandSchema, command, `batch command ${index}`);
    } catch (error) {
      return error instanceof InvalidRequestError ? error : new InvalidRequestError(String(error));
    }
  });
  return { batched: true, commands };
}
