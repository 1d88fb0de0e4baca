/**
 * The chaos checker must pass a healthy run and must catch what it exists to catch: a checker
 * that cannot fail proves nothing. Corruptions are made on copies of the live replicas.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkReplicas } from '../../harness/chaos/checker.ts';
import { readReplicaFacts, replicaFile } from '../../harness/chaos/replica-facts.ts';
import { runScenario, type ScenarioResult } from '../../harness/chaos/scenario.ts';
import { startDatabaseService, type DatabaseServiceHandle } from '../../harness/database-service.ts';

describe('the chaos checker', () => {
  let service: DatabaseServiceHandle;
  let run: ScenarioResult;
  let scratch: string;

  beforeAll(async () => {
    service = await startDatabaseService({ slaves: 2 });
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'chaos-checker-'));
    const view = { orchestratorUrl: service.orchestratorUrl, dataDir: service.dataDir, workers: () => service.orchestrator.workers() };
    run = await runScenario({ view, seed: 7, desiredSlaves: 2, durationMs: 4000, faults: false });
    console.log(run.report.text);
  });
  afterAll(async () => {
    await service?.stop();
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  });

  /** Copies of every live replica, with `corrupt` applied to the copy of the first one. */
  async function copiesWith(label: string, corrupt: (db: Database.Database) => void) {
    const dir = path.join(scratch, label);
    fs.mkdirSync(dir);
    const workers = await service.orchestrator.workers();
    const files: string[] = [];
    for (const worker of workers) {
      const source = new Database(replicaFile(service.dataDir, worker.workerId), { readonly: true });
      const copy = path.join(dir, `${worker.workerId}.db`);
      await source.backup(copy);
      source.close();
      files.push(copy);
    }
    const victim = new Database(files[0]!);
    corrupt(victim);
    victim.close();
    return checkReplicas(
      files.map((file) => readReplicaFacts(file, run.ledger.writers)),
      run.ledger,
    );
  }

  it('passes a run without faults', () => {
    // Enough writes for the corruptions below (indices up to 4): how many a loaded machine manages is no test.
    expect(run.ledger.acked.length).toBeGreaterThanOrEqual(5);
    expect(run.report.failures).toEqual([]);
    expect(run.report.ok).toBe(true);
  });

  it('fails when an acknowledged write is missing on one replica', async () => {
    const lost = run.ledger.acked[3]!;
    const { failures } = await copiesWith('lost', (db) => db.prepare('DELETE FROM rides WHERE timestamp = ?').run(lost.marker));
    expect(failures.join('\n')).toContain('acknowledged write missing: 1');
    expect(failures.join('\n')).toContain(lost.requestId);
    expect(failures.join('\n')).toContain('replicas differ');
  });

  it('fails when a write was applied twice', async () => {
    const twice = run.ledger.acked[4]!;
    const { failures } = await copiesWith('twice', (db) =>
      db.prepare('INSERT INTO rides (created_by, timestamp, source, destination) SELECT created_by, timestamp, source, destination FROM rides WHERE timestamp = ?').run(twice.marker),
    );
    expect(failures.join('\n')).toContain('write applied twice: 1');
  });

  it('fails when a row no client wrote appears, or a value differs', async () => {
    const phantom = await copiesWith('phantom', (db) => db.prepare('INSERT INTO rides (created_by, timestamp, source, destination) VALUES (?, ?, 1, 2)').run(run.ledger.writers[0], 1_999_999_999));
    expect(phantom.failures.join('\n')).toContain('row no client wrote: 1');
    const changed = await copiesWith('changed', (db) => db.prepare('UPDATE rides SET source = source + 1 WHERE timestamp = ?').run(run.ledger.acked[0]!.marker));
    expect(changed.failures.join('\n')).toContain('replicas differ');
    expect(changed.failures.join('\n')).toContain('stored row differs from what the client sent: 1');
    const stranger = await copiesWith('stranger', (db) => {
      const namespace = run.ledger.writers[0]!.replace(/w0$/, '');
      db.prepare('INSERT INTO users (username, password) VALUES (?, ?)').run(`${namespace}intruder`, 'x'.repeat(40));
      const ride = run.ledger.acked[1]!;
      db.prepare('INSERT INTO ride_members (ride_id, username) VALUES (?, ?)').run(ride.insertId, `${namespace}intruder`);
    });
    expect(stranger.failures.join('\n')).toContain('row no client wrote: 2');
  });
});
