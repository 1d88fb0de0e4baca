/**
 * Structured database requests: the only language db/read and db/write speak. A request names a
 * table, columns and conditions; it never carries SQL. `parseRead` / `parseWrite` check the shape
 * (zod) and then the meaning (tables, columns, value types) against TABLES, and throw an
 * InvalidRequestError whose message says exactly what is wrong.
 */
import { z } from 'zod';
import { InvalidRequestError } from './wire-errors.ts';
import { columnSpec, columnsOf, isSecretColumn, isTableName, TABLES, type ColumnSpec, type TableName } from './tables.ts';

export const MAX_IN_LIST = 1000;
/** The most rows one read may ask for; more is a 400 that says how to page. */
export const MAX_READ_LIMIT = 10_000;
/** The rows a read that names no limit gets at most; the answer then says it was cut (DatabaseFrontend). */
export const DEFAULT_READ_LIMIT = 1000;
export const MAX_INSERT_ROWS = 1000;

const valueSchema = z.union([z.string(), z.number()]);
const conditionSchema = z.union([
  valueSchema,
  z.strictObject({
    eq: valueSchema.optional(),
    ne: valueSchema.optional(),
    gt: valueSchema.optional(),
    gte: valueSchema.optional(),
    lt: valueSchema.optional(),
    lte: valueSchema.optional(),
    in: z.array(valueSchema).max(MAX_IN_LIST).optional(),
  }),
]);
const whereSchema = z.record(z.string(), conditionSchema);
const seqSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

const readSchema = z.strictObject({
  table: z.string(),
  columns: z.array(z.string()).min(1).max(64).optional(),
  where: whereSchema.optional(),
  orderBy: z
    .array(z.strictObject({ column: z.string(), direction: z.enum(['asc', 'desc']).default('asc') }))
    .max(8)
    .optional(),
  limit: z.number().int().min(1).max(MAX_READ_LIMIT, `at most ${MAX_READ_LIMIT} rows per read: ask for the next ones with offset, or with a where on the column you order by`).optional(),
  offset: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  /** Answer `[{"count": N}]` instead of rows. */
  count: z.boolean().optional(),
  /** Read-your-writes: the answering replica must have applied at least this sequence number. */
  minSeq: seqSchema.optional(),
  /**
   * Read at least everything this orchestrator has acknowledged so far (it raises minSeq to its
   * last acknowledged seq): a user created a moment ago is found even on a lagging slave.
   */
  fresh: z.boolean().optional(),
});

const writeSchema = z.discriminatedUnion('op', [
  z.strictObject({
    op: z.literal('insert'),
    table: z.string(),
    values: z.record(z.string(), valueSchema).optional(),
    rows: z.array(z.record(z.string(), valueSchema)).min(1).max(MAX_INSERT_ROWS).optional(),
  }),
  z.strictObject({
    op: z.literal('update'),
    table: z.string(),
    values: z.record(z.string(), valueSchema),
    where: whereSchema,
  }),
  z.strictObject({ op: z.literal('delete'), table: z.string(), where: whereSchema }),
  /** Empties every table (db/clear); autoincrement counters are kept so ids are never reused. */
  z.strictObject({ op: z.literal('clear') }),
]);

export type Value = z.infer<typeof valueSchema>;
export type Where = z.infer<typeof whereSchema>;
export type Condition = Where[string];
export type Comparison = keyof Exclude<Condition, Value>;
type ReadShape = z.infer<typeof readSchema>;
export type OrderBy = NonNullable<ReadShape['orderBy']>[number];

/*
 * A parsed request: its schema's shape, with the table checked against the registry (TableName).
 * The schemas say what a request may look like; parseRead and parseWrite check what it names.
 */
type Checked<Shape> = Shape extends { table: string } ? Omit<Shape, 'table'> & { table: TableName } : Shape;

/** A read, as parseRead returns it. */
export type ReadQuery = Checked<ReadShape>;

type WriteShape = z.infer<typeof writeSchema>;
/** One row (`values`) or up to MAX_INSERT_ROWS rows (`rows`) in one transaction. */
export type InsertWrite = Checked<Extract<WriteShape, { op: 'insert' }>>;
export type UpdateWrite = Checked<Extract<WriteShape, { op: 'update' }>>;
export type DeleteWrite = Checked<Extract<WriteShape, { op: 'delete' }>>;
export type ClearWrite = Extract<WriteShape, { op: 'clear' }>;
/** A write, as parseWrite returns it. */
export type Write = InsertWrite | UpdateWrite | DeleteWrite | ClearWrite;

/** The first zod issue as one readable sentence, e.g. `where.source: expected string, received boolean`. */
export function describeZodError(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid request';
  const path = issue.path.map(String).join('.');
  return path ? `${path}: ${issue.message}` : issue.message;
}

function parseShape<T>(schema: z.ZodType<T>, body: unknown): T {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new InvalidRequestError('the request body must be a JSON object');
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new InvalidRequestError(describeZodError(parsed.error));
  return parsed.data;
}

function tableOf(name: string): TableName {
  if (!isTableName(name)) {
    throw new InvalidRequestError(`unknown table '${name}' (known: ${Object.keys(TABLES).join(', ')})`);
  }
  return name;
}

function columnOf(table: TableName, column: string): ColumnSpec {
  const spec = columnSpec(table, column);
  if (!spec) throw new InvalidRequestError(`unknown column '${column}' in table '${table}'`);
  return spec;
}

function checkValue(table: TableName, column: string, value: Value): void {
  const spec = columnOf(table, column);
  if (spec.type === 'integer') {
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
      throw new InvalidRequestError(`column '${column}' expects an integer within ±2^53, got ${JSON.stringify(value).slice(0, 40)}`);
    }
    return;
  }
  if (typeof value !== 'string') {
    throw new InvalidRequestError(`column '${column}' expects a string, got ${typeof value}`);
  }
  if (spec.maxLength !== undefined && value.length > spec.maxLength) {
    throw new InvalidRequestError(`column '${column}' is longer than ${spec.maxLength} characters`);
  }
}

function checkWhere(table: TableName, where: Where): void {
  for (const [column, condition] of Object.entries(where)) {
    if (typeof condition !== 'object') {
      checkValue(table, column, condition);
      continue;
    }
    const operators = Object.entries(condition);
    if (operators.length === 0) throw new InvalidRequestError(`where.${column}: empty condition`);
    for (const [operator, operand] of operators) {
      const operands = Array.isArray(operand) ? operand : [operand];
      if (operator === 'in' && !Array.isArray(operand)) throw new InvalidRequestError(`where.${column}.in expects an array`);
      for (const value of operands) checkValue(table, column, value);
    }
  }
}

function checkValues(table: TableName, values: Record<string, Value>): void {
  for (const [column, value] of Object.entries(values)) checkValue(table, column, value);
}

/**
 * Whether a write may change every row of a table, or of all of them: a clear, or a delete or
 * update without a condition. What it may match is not judged here, only what it names.
 */
export function touchesEveryRow(write: Write): boolean {
  if (write.op === 'clear') return true;
  if (write.op === 'insert') return false;
  return Object.keys(write.where).length === 0;
}

/** The secret columns (tables.ts) a read or write names in its columns, conditions or order. */
export function secretColumnsNamed(request: ReadQuery | Write): string[] {
  if (!('table' in request)) return [];
  const { table } = request;
  const named = 'where' in request ? Object.keys(request.where ?? {}) : [];
  if ('columns' in request) named.push(...(request.columns ?? []));
  if ('orderBy' in request) named.push(...(request.orderBy ?? []).map((order) => order.column));
  return [...new Set(named)].filter((column) => isSecretColumn(table, column));
}

export function parseRead(body: unknown): ReadQuery {
  const raw = parseShape(readSchema, body);
  const table = tableOf(raw.table);
  for (const column of raw.columns ?? []) columnOf(table, column);
  for (const order of raw.orderBy ?? []) columnOf(table, order.column);
  if (raw.where) checkWhere(table, raw.where);
  return { ...raw, table };
}

export function parseWrite(body: unknown): Write {
  const raw = parseShape(writeSchema, body);
  if (raw.op === 'clear') return raw;
  const table = tableOf(raw.table);
  if (raw.op === 'delete') {
    checkWhere(table, raw.where);
    return { ...raw, table };
  }
  if (raw.op === 'insert') return parseInsert(table, raw);
  checkValues(table, raw.values);
  if (Object.keys(raw.values).length === 0) throw new InvalidRequestError('values: an update must set at least one column');
  checkWhere(table, raw.where);
  return { ...raw, table };
}

function parseInsert(table: TableName, raw: { values?: Record<string, Value>; rows?: Record<string, Value>[] }): InsertWrite {
  if ((raw.values === undefined) === (raw.rows === undefined)) {
    throw new InvalidRequestError("an insert takes either 'values' (one row) or 'rows' (several)");
  }
  const autoIncrement = (TABLES[table] as { autoIncrement?: string }).autoIncrement;
  const rows = raw.rows ?? [raw.values as Record<string, Value>];
  rows.forEach((row, index) => {
    const where = raw.rows ? `rows[${index}]` : 'values';
    for (const [column, value] of Object.entries(row)) {
      try {
        checkValue(table, column, value);
      } catch (error) {
        throw raw.rows ? new InvalidRequestError(`${where}: ${(error as Error).message}`) : error;
      }
    }
    for (const column of Object.keys(columnsOf(table))) {
      if (column !== autoIncrement && !(column in row)) {
        throw new InvalidRequestError(`${where}: column '${column}' is required to insert into '${table}'`);
      }
    }
  });
  return raw.rows ? { op: 'insert', table, rows: raw.rows } : { op: 'insert', table, values: raw.values as Record<string, Value> };
}
