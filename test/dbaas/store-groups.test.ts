/**
 * A group commit in one worker's SQLite file: the writes of a group share one transaction, each in
 * a savepoint of its own, and the file's position is the group's last write, stored with it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SyncWrite } from '../../src/dbaas/protocol/sync.ts';
import { readReplicaPosition } from '../../src/dbaas/replication/replica-file.ts';
import type { Write } from '../../src/dbaas/protocol/queries.ts';
import { Store } from '../../src/dbaas/worker/Store.ts';

const password = 'e'.repeat(40);
const user = (username: string): Write => ({ op: 'insert', table: 'users', values: { username, password } });

describe('group commit in the store', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rideshare-groups-'));
    file = path.join(dir, 'worker.db');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a failing write is undone alone, the others take consecutive seqs, and the file holds the last one', () => {
    const store = new Store(file);
    store.applyAsMaster('first', user('first'), 1);
    const outcomes = store.inTransaction(() =>
      ['a', 'first', 'b', 'c'].map((name, i) => {
        try {
          return store.applyAsMaster(`group-${i}`, name === 'first' ? { op: 'insert', table: 'rides', values: { created_by: 'nobody', timestamp: 1, source: 1, destination: 2 } } : user(name), 1).seq;
        } catch (error) {
          return (error as { code?: string }).code;
        }
      }),
    );
    expect(outcomes).toEqual([2, 'FOREIGN_KEY_VIOLATION', 3, 4]);
    expect(store.appliedSeq).toBe(4);
    expect(store.answered('group-1')).toBeUndefined();
    expect(store.requestAt(3)).toBe('group-2');
    store.close();
    expect(readReplicaPosition(file)).toEqual({ appliedSeq: 4, epoch: 1 });
    const reopened = new Store(file);
    expect(reopened.read({ table: 'users', columns: ['username'], orderBy: [{ column: 'username', direction: 'asc' }] })).toEqual(['a', 'b', 'c', 'first'].map((username) => ({ username })));
    reopened.close();
  });

  it('a group whose work throws leaves nothing, in the file or in the position', () => {
    const store = new Store(file);
    store.applyAsMaster('before', user('before'), 1);
    expect(() =>
      store.inTransaction(() => {
        store.applyAsMaster('lost-1', user('lost-1'), 1);
        store.applyAsMaster('lost-2', user('lost-2'), 1);
        throw new Error('the group fails');
      }),
    ).toThrow('the group fails');
    expect(store.appliedSeq).toBe(1);
    expect(store.answered('lost-1')).toBeUndefined();
    store.close();
    expect(readReplicaPosition(file)).toEqual({ appliedSeq: 1, epoch: 1 });
  });

  it('a replica applies a group the master made and ends where the master did', () => {
    const master = new Store(file);
    const group: SyncWrite[] = master.inTransaction(() => ['x', 'y', 'z'].map((name) => master.applyAsMaster(`replica-${name}`, user(name), 2)));
    master.close();
    const replica = new Store(path.join(dir, 'replica.db'));
    replica.inTransaction(() => {
      for (const write of group) replica.applyReplicated(write);
    });
    expect(replica.appliedSeq).toBe(3);
    expect(replica.epoch).toBe(2);
    replica.close();
    expect(readReplicaPosition(path.join(dir, 'replica.db'))).toEqual({ appliedSeq: 3, epoch: 2 });
    expect(readReplicaPosition(file)).toEqual({ appliedSeq: 3, epoch: 2 });
  });
});

/**
 * SQLite ends the whole transaction on some errors (SQLITE_FULL, IOERR, NOMEM; a trigger's
 * RAISE(ROLLBACK) stands in for them here). A group hit by one must be undone entirely, and the
 * writes after it must not slip into the file outside the group.
 */
describe('a group whose transaction SQLite ended', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rideshare-groups-'));
    file = path.join(dir, 'worker.db');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  function storeWithRollbackTrigger(): Store {
    const store = new Store(file);
    const raw = new Database(file);
    raw.exec(`CREATE TRIGGER ends_transaction BEFORE INSERT ON users WHEN NEW.username = 'boom'
              BEGIN SELECT RAISE(ROLLBACK, 'injected transaction end'); END`);
    raw.close();
    return store;
  }

  it('fails the whole group with TRANSACTION_ABORTED, even when each write catches its own error', () => {
    const store = storeWithRollbackTrigger();
    store.applyAsMaster('before', user('before'), 1);
    const seen: unknown[] = [];
    expect(() =>
      store.inTransaction(() => {
        for (const name of ['a', 'boom', 'b']) {
          try {
            seen.push(store.applyAsMaster(`w-${name}`, user(name), 1).seq);
          } catch (error) {
            // What the master's group loop does with a write's own failure: note it, go on.
            seen.push((error as { code?: string }).code);
            if ((error as { code?: string }).code === 'TRANSACTION_ABORTED') throw error;
          }
        }
      }),
    ).toThrow(expect.objectContaining({ code: 'TRANSACTION_ABORTED' }));
    expect(seen).toEqual([2, 'TRANSACTION_ABORTED']);
    expect(store.appliedSeq).toBe(1);
    expect(store.answered('w-a')).toBeUndefined();
    store.close();
    const names = new Database(file, { readonly: true }).prepare('SELECT username FROM users ORDER BY username').pluck().all();
    expect(names).toEqual(['before']);
    expect(readReplicaPosition(file)).toEqual({ appliedSeq: 1, epoch: 1 });
  });

  it('refuses a write of a group whose transaction is gone instead of autocommitting it', () => {
    const store = storeWithRollbackTrigger();
    expect(() =>
      store.inTransaction(() => {
        try {
          store.applyAsMaster('w-boom', user('boom'), 1);
        } catch {
          // A careless caller that swallows every error of a write.
        }
        store.applyAsMaster('w-after', user('after'), 1);
      }),
    ).toThrow(expect.objectContaining({ code: 'TRANSACTION_ABORTED' }));
    store.close();
    const names = new Database(file, { readonly: true }).prepare('SELECT username FROM users').pluck().all();
    expect(names).toEqual([]);
    expect(readReplicaPosition(file)).toEqual({ appliedSeq: 0, epoch: 0 });
  });
});
