/**
 * The RideShare data model, declared once. Workers create their SQLite schema from it and the
 * orchestrator validates every structured request against it, so a table or column that is not
 * listed here can never reach SQL.
 */

export type ColumnType = 'text' | 'integer';

export interface ColumnSpec {
  readonly type: ColumnType;
  /** Longest accepted text, in characters; longer values are a 400, not a truncation. */
  readonly maxLength?: number;
  readonly nullable?: boolean;
  /** Never read back, matched or sorted on except by the admin role (password hashes). */
  readonly secret?: boolean;
}

export interface TableSpec {
  readonly columns: Readonly<Record<string, ColumnSpec>>;
  /** An INTEGER PRIMARY KEY AUTOINCREMENT column: ids are never reused, even after a clear. */
  readonly autoIncrement?: string;
  readonly ddl: string;
}

/** Texts longer than this are refused; 100 kB usernames must be a clean 400, not a stored row. */
export const MAX_TEXT_LENGTH = 1024;

export const TABLES = {
  users: {
    columns: {
      username: { type: 'text', maxLength: MAX_TEXT_LENGTH },
      password: { type: 'text', maxLength: MAX_TEXT_LENGTH, secret: true },
    },
    ddl: `CREATE TABLE IF NOT EXISTS users (
      username TEXT PRIMARY KEY,
      password TEXT NOT NULL
    ) WITHOUT ROWID`,
  },
  rides: {
    columns: {
      ride_id: { type: 'integer' },
      created_by: { type: 'text', maxLength: MAX_TEXT_LENGTH },
      timestamp: { type: 'integer' },
      source: { type: 'integer' },
      destination: { type: 'integer' },
    },
    autoIncrement: 'ride_id',
    ddl: `CREATE TABLE IF NOT EXISTS rides (
      ride_id INTEGER PRIMARY KEY AUTOINCREMENT,
      created_by TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
      timestamp INTEGER NOT NULL,
      source INTEGER NOT NULL,
      destination INTEGER NOT NULL
    )`,
  },
  ride_members: {
    columns: {
      ride_id: { type: 'integer' },
      username: { type: 'text', maxLength: MAX_TEXT_LENGTH },
    },
    ddl: `CREATE TABLE IF NOT EXISTS ride_members (
      ride_id INTEGER NOT NULL REFERENCES rides(ride_id) ON DELETE CASCADE,
      username TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
      PRIMARY KEY (ride_id, username)
    ) WITHOUT ROWID`,
  },
} as const satisfies Record<string, TableSpec>;

export type TableName = keyof typeof TABLES;
export const TABLE_NAMES = Object.keys(TABLES) as TableName[];

/** Indexes that keep the service's lookups off full scans. */
export const INDEXES = [
  'CREATE INDEX IF NOT EXISTS rides_by_route ON rides(source, destination, timestamp)',
  'CREATE INDEX IF NOT EXISTS rides_by_creator ON rides(created_by)',
  'CREATE INDEX IF NOT EXISTS ride_members_by_user ON ride_members(username)',
];

/** Tables in the order a clear must empty them (children first). */
export const CLEAR_ORDER: readonly TableName[] = ['ride_members', 'rides', 'users'];

export function isTableName(name: string): name is TableName {
  return Object.hasOwn(TABLES, name);
}

export function columnsOf(table: TableName): Readonly<Record<string, ColumnSpec>> {
  return TABLES[table].columns;
}

/** A column of the registry, or undefined: an own property only, so `constructor` is no column. */
export function columnSpec(table: TableName, column: string): ColumnSpec | undefined {
  const columns = columnsOf(table);
  return Object.hasOwn(columns, column) ? columns[column] : undefined;
}

export function isSecretColumn(table: TableName, column: string): boolean {
  return columnSpec(table, column)?.secret === true;
}

/** The columns anyone may read, in declaration order. */
export function publicColumnsOf(table: TableName): string[] {
  return Object.keys(columnsOf(table)).filter((column) => !isSecretColumn(table, column));
}
