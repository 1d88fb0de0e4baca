/**
 * Every read the services send stays index-backed, whatever the table holds: the plan SQLite
 * chooses for each compiled query (EXPLAIN QUERY PLAN) searches an index and never scans a table
 * or sorts in a temporary tree. The plans are printed, for the record.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRead, type ReadQuery } from '../../src/dbaas/protocol/queries.ts';
import { compileRead } from '../../src/dbaas/worker/sql-compiler.ts';
import { Store } from '../../src/dbaas/worker/Store.ts';

/** The reads of src/services/users/users-store.ts and src/services/rides/rides-store.ts. */
const READS: Record<string, unknown> = {
  'ride search (upcoming rides of a route)': {
    table: 'rides',
    where: { source: 3, destination: 7, timestamp: { gt: 1_700_000_000 } },
    orderBy: [
      { column: 'timestamp', direction: 'asc' },
      { column: 'ride_id', direction: 'asc' },
    ],
  },
  'one ride by id': { table: 'rides', where: { ride_id: 42 }, limit: 1 },
  'the members of a ride': { table: 'ride_members', where: { ride_id: 42 } },
  'a user by name': { table: 'users', columns: ['username'], where: { username: 'u-42' } },
  'the rides of a creator (a user removed)': { table: 'rides', where: { created_by: 'u-42' } },
  'the seats of a user (a user removed)': { table: 'ride_members', where: { username: 'u-42' } },
};

describe('query plans of the services\u2019 reads', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rideshare-plans-'));
  let db: Database.Database;

  beforeAll(() => {
    const store = new Store(path.join(dir, 'plans.db'));
    const users = Array.from({ length: 500 }, (_, i) => ({ username: `u-${i}`, password: 'a'.repeat(40) }));
    store.applyAsMaster('users', { op: 'insert', table: 'users', rows: users }, 1);
    for (let batch = 0; batch < 20; batch += 1) {
      const rows = Array.from({ length: 1000 }, (_, i) => ({
        created_by: `u-${(batch * 1000 + i) % 500}`,
        timestamp: 1_700_000_000 + batch * 1000 + i,
        source: 1 + (i % 198),
        destination: 1 + ((i * 7) % 198),
      }));
      store.applyAsMaster(`rides-${batch}`, { op: 'insert', table: 'rides', rows }, 1);
    }
    store.close();
    db = new Database(path.join(dir, 'plans.db'), { readonly: true });
  });
  afterAll(() => {
    db?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it.each(Object.entries(READS))('%s searches an index', (label, read) => {
    const { sql, params } = compileRead(parseRead(read) as ReadQuery);
    const plan = (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[]).map((row) => row.detail);
    console.log(`${label}:\n  ${sql}\n  ${plan.join('\n  ')}`);
    expect(plan.some((step) => /^SEARCH \w+ USING (COVERING INDEX|INDEX|INTEGER PRIMARY KEY|PRIMARY KEY)/.test(step))).toBe(true);
    expect(plan.filter((step) => /^SCAN /.test(step) || /TEMP B-TREE/.test(step))).toEqual([]);
  });
});
