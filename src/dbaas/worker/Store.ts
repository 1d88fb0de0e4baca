/**
 * A worker's own SQLite copy of the data, plus its replication state (applied seq, epoch) and the
 * answers of recent writes by request id, all changed in the same transaction as the data, so a
 * crash can never leave the data and the log position disagreeing.
 */
import Database from 'better-sqlite3';
import { RideShareError } from '../../shared/errors.ts';
import { PROTOCOL_VERSION } from '../protocol/messages.ts';
import type { Row, WriteResult } from '../protocol/results.ts';
import type { SyncWrite } from '../protocol/sync.ts';
import type { InsertWrite, ReadQuery, Write } from '../protocol/queries.ts';
import { INDEXES, TABLES } from '../protocol/tables.ts';
import { positionIn } from '../replication/replica-file.ts';
import type { ReplicaStore, ReplicationPosition } from '../replication/ReplicaStore.ts';
import { restrictDatabaseFiles } from './files.ts';
import { compileRead, compileWrite, insertedRows, type CompiledStatement } from './sql-compiler.ts';

/** How many request ids to remember for idempotent retries; older ones are pruned. */
const REMEMBERED_REQUESTS = 100_000;
const STATEMENT_CACHE_SIZE = 500;

const META_DDL = [
  `CREATE TABLE IF NOT EXISTS replication_state (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     applied_seq INTEGER NOT NULL,
     epoch INTEGER NOT NULL)`,
  'INSERT OR IGNORE INTO replication_state (id, applied_seq, epoch) VALUES (1, 0, 0)',
  `CREATE TABLE IF NOT EXISTS applied_requests (
     request_id TEXT PRIMARY KEY,
     seq INTEGER NOT NULL,
     result TEXT NOT NULL) WITHOUT ROWID`,
  'CREATE INDEX IF NOT EXISTS applied_requests_by_seq ON applied_requests(seq)',
];

/** What a commit survives: any process crash, or also a power loss (see docs/guarantees.md). */
export type Durability = 'process' | 'power';

export type { ReplicationPosition } from '../replication/ReplicaStore.ts';

export class Store implements ReplicaStore {
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();
  private position: ReplicationPosition;
  /** The position moved in the open transaction and is stored once, when its work is done. */
  private positionMoved = false;
  /** 1 inside a transaction, more inside its savepoints. */
  private depth = 0;
  /**
   * SQLite ended the open transaction under a savepoint (see inTransaction): whatever the caller
   * does with that write's error, nothing more of this transaction may run or commit.
   */
  private transactionLost: unknown = undefined;
  /**
   * Made once: better-sqlite3 builds a wrapper per db.transaction() call. Called inside an open
   * transaction, the same function runs as a savepoint.
   */
  private readonly transact: (work: () => unknown) => unknown;

  constructor(readonly file: string) {
    this.db = new Database(file);
    restrictDatabaseFiles(file);
    this.db.pragma('journal_mode = WAL');
    this.setDurability('process');
    this.db.pragma('foreign_keys = ON');
    for (const table of Object.values(TABLES)) this.db.exec(table.ddl);
    for (const ddl of [...INDEXES, ...META_DDL]) this.db.exec(ddl);
    // META_DDL has just made sure the row exists.
    this.position = positionIn(this.db) as ReplicationPosition;
    this.transact = this.db.transaction((work: () => unknown) => {
      const result = work();
      if (this.depth === 1 && this.transactionLost !== undefined) throw transactionAborted(this.transactionLost);
      // Once per transaction, not per write or savepoint: a group commit stores its last position.
      if (this.depth === 1 && this.positionMoved) this.storePosition();
      return result;
    });
  }

  /**
   * In WAL mode NORMAL keeps every commit through a process crash (the WAL is written before the
   * commit returns) but not through a power loss; FULL adds an fsync per commit for that.
   */
  setDurability(durability: Durability): void {
    this.db.pragma(`synchronous = ${durability === 'power' ? 'FULL' : 'NORMAL'}`);
  }

  /**
   * Opens a snapshot that fetchSnapshot wrote to `file` and verified, and checks that it holds the
   * position the sender announced (replication_state travels inside the copy, with the data).
   */
  static fromSnapshot(file: string, expected: ReplicationPosition): Store {
    const store = new Store(file);
    if (store.appliedSeq !== expected.appliedSeq || store.epoch !== expected.epoch) {
      store.close();
      throw new RideShareError('INTEGRITY', `snapshot file holds seq ${store.appliedSeq}/epoch ${store.epoch}, expected ${expected.appliedSeq}/${expected.epoch}`);
    }
    return store;
  }

  get appliedSeq(): number {
    return this.position.appliedSeq;
  }

  get epoch(): number {
    return this.position.epoch;
  }

  read(query: ReadQuery): Row[] {
    const { sql, params } = compileRead(query);
    return this.statement(sql).all(...params) as Row[];
  }

  /** The first answer of a write already applied under this request id, if any. */
  answered(requestId: string): WriteResult | undefined {
    const row = this.statement('SELECT result FROM applied_requests WHERE request_id = ?').get(requestId) as { result: string } | undefined;
    return row ? (JSON.parse(row.result) as WriteResult) : undefined;
  }

  /**
   * Applies a new write as master: gives it the next seq, fills in an assigned id so replicas
   * store the same row, and returns the message to broadcast. Throws a coded error (and changes
   * nothing) when the write breaks a constraint.
   */
  applyAsMaster(requestId: string, write: Write, epoch: number): SyncWrite {
    return this.inTransaction((): SyncWrite => {
      const seq = this.position.appliedSeq + 1;
      const { changes, insertId, applied } = this.execute(write);
      const result: WriteResult = { changes, seq, epoch, ...(insertId === undefined ? {} : { insertId }) };
      this.record(requestId, seq, epoch, result);
      return { v: PROTOCOL_VERSION, kind: 'write', epoch, seq, requestId, write: applied, result };
    });
  }

  /**
   * Runs `work` in one transaction (a group commit): a write applied inside is a savepoint of its
   * own, so one that fails is undone alone. If the commit itself fails, nothing of it stays.
   */
  inTransaction<T>(work: () => T): T {
    const before = this.position;
    const moved = this.positionMoved;
    if (this.depth === 0) this.transactionLost = undefined;
    // better-sqlite3 picks SAVEPOINT or BEGIN from db.inTransaction: a nested call after SQLite
    // ended the transaction would BEGIN (and autocommit) a transaction of its own.
    else if (this.transactionLost !== undefined || !this.db.inTransaction) throw transactionAborted(this.transactionLost);
    this.depth += 1;
    try {
      return this.transact(work) as T;
    } catch (error) {
      // Undone in SQLite (the transaction, or only this savepoint): undone here too.
      this.position = before;
      this.positionMoved = moved;
      if (this.depth > 1 && !this.db.inTransaction) {
        // Not only this savepoint: SQLite rolled back the whole transaction (SQLITE_FULL, IOERR,
        // NOMEM, a trigger's RAISE(ROLLBACK)).
        this.transactionLost ??= error;
        throw transactionAborted(error);
      }
      throw error;
    } finally {
      this.depth -= 1;
    }
  }

  /** Applies a write broadcast by the master; the caller has checked `seq === appliedSeq + 1`. */
  applyReplicated(message: SyncWrite): void {
    this.inTransaction(() => {
      this.execute(message.write);
      this.record(message.requestId, message.seq, message.epoch, message.result);
    });
  }

  requestAt(seq: number): string | undefined {
    const row = this.statement('SELECT request_id AS requestId FROM applied_requests WHERE seq = ?').get(seq) as { requestId: string } | undefined;
    return row?.requestId;
  }

  /** Raises the epoch this replica serves under (a promotion or an epoch mark), without a write. */
  setEpoch(epoch: number): void {
    this.statement('UPDATE replication_state SET epoch = ? WHERE id = 1').run(epoch);
    this.position = { ...this.position, epoch };
  }

  close(): void {
    this.statements.clear();
    this.db.close();
  }

  /** Runs a write; for an insert into a table with an assigned id, returns the write with the ids filled in. */
  private execute(write: Write): { changes: number; insertId?: number; applied: Write } {
    try {
      if (write.op === 'insert') return this.insert(write);
      let changes = 0;
      for (const compiled of compileWrite(write)) changes += this.run(compiled).changes;
      return { changes, applied: write };
    } catch (error) {
      throw translateSqliteError(error);
    }
  }

  private insert(write: InsertWrite): { changes: number; insertId?: number; applied: Write } {
    const autoIncrement = (TABLES[write.table] as { autoIncrement?: string }).autoIncrement;
    const rows = insertedRows(write);
    const compiled = compileWrite(write);
    const ids = compiled.map((statement, index) => {
      const info = this.run(statement);
      const given = autoIncrement === undefined ? undefined : rows[index]?.[autoIncrement];
      return typeof given === 'number' ? given : Number(info.lastInsertRowid);
    });
    if (autoIncrement === undefined) return { changes: rows.length, applied: write };
    const withIds = rows.map((row, index) => ({ ...row, [autoIncrement]: ids[index] as number }));
    const applied: InsertWrite = write.rows ? { ...write, rows: withIds } : { ...write, values: withIds[0] };
    return { changes: rows.length, insertId: ids[0], applied };
  }

  private record(requestId: string, seq: number, epoch: number, result: WriteResult): void {
    this.statement('INSERT OR REPLACE INTO applied_requests (request_id, seq, result) VALUES (?, ?, ?)').run(requestId, seq, JSON.stringify(result));
    if (seq % 1000 === 0) this.statement('DELETE FROM applied_requests WHERE seq <= ?').run(seq - REMEMBERED_REQUESTS);
    this.position = { appliedSeq: seq, epoch: Math.max(this.position.epoch, epoch) };
    this.positionMoved = true;
  }

  private storePosition(): void {
    this.statement('UPDATE replication_state SET applied_seq = ?, epoch = MAX(epoch, ?) WHERE id = 1').run(this.position.appliedSeq, this.position.epoch);
    this.positionMoved = false;
  }

  private run(compiled: CompiledStatement): Database.RunResult {
    return this.statement(compiled.sql).run(...compiled.params);
  }

  private statement(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      if (this.statements.size >= STATEMENT_CACHE_SIZE) this.statements.clear();
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }
}

function transactionAborted(cause: unknown): RideShareError {
  if (cause instanceof RideShareError && cause.code === 'TRANSACTION_ABORTED') return cause;
  const reason = cause instanceof Error ? cause.message : 'an earlier write ended it';
  return new RideShareError('TRANSACTION_ABORTED', `SQLite ended the group's transaction (${reason}); none of the group is applied`, { cause });
}

function translateSqliteError(error: unknown): unknown {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE') {
    return new RideShareError('UNIQUE_VIOLATION', `duplicate key: ${message}`);
  }
  if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') {
    return new RideShareError('FOREIGN_KEY_VIOLATION', 'the row refers to a user or ride that does not exist');
  }
  if (typeof code === 'string' && code.startsWith('SQLITE_CONSTRAINT')) return new RideShareError('CONFLICT', message);
  return error;
}
