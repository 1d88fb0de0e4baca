/**
 * Backup and restore, end to end on real RabbitMQ, ZooKeeper and SQLite: the restore drill (write,
 * back up over HTTP with `npm run backup` while a writer keeps writing, write more, restore with
 * `npm run restore` into a fresh DATA_DIR, start a new cluster from it and compare every row of
 * every table), the refusals (not a SQLite file, a checksum mismatch, a damaged file, a DATA_DIR
 * that holds a cluster, a running cluster) and the endpoint's HTTP contract.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { manifestPathOf, manifestSchema, type BackupManifest } from '../../src/dbaas/backup/backup-format.ts';
import { InvalidBackupError } from '../../src/dbaas/backup/backup-file.ts';
import { ensureClusterStopped, installBackup, restoreOnFirstStart, RestoreRefusedError } from '../../src/dbaas/backup/restore.ts';
import { readPendingRestore } from '../../src/dbaas/supervisor/cluster-files.ts';
import { DesiredSlaves } from '../../src/dbaas/coordination/DesiredSlaves.ts';
import { ZkClient } from '../../src/dbaas/coordination/ZkClient.ts';
import { TABLE_NAMES } from '../../src/dbaas/protocol/tables.ts';
import { Store } from '../../src/dbaas/worker/Store.ts';
import { loadConfig } from '../../src/shared/config.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { waitFor } from '../../src/shared/processes.ts';
import { startDatabaseService, uniqueClusterName, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { request as httpRequest, post } from '../../harness/http.ts';
import { testServers } from '../../harness/inject.ts';
import { settledWorkers } from '../../harness/workers.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const PASSWORD = 'ab'.repeat(20);
const quiet = createLogger('backup-test', 'warn');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** An npm script of the project, as an operator runs it. */
function npmRun(script: string, args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile('npm', ['run', '--silent', script, '--', ...args], { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'warn', ...env }, timeout: 120_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Every row of every table of the data model, plus the AUTOINCREMENT counters, in a stable order. */
function contentOf(file: string): Record<string, unknown[]> {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const content: Record<string, unknown[]> = {};
    for (const table of [...TABLE_NAMES, 'sqlite_sequence']) {
      const rows = db.prepare(`SELECT * FROM "${table}"`).all();
      content[table] = rows.map((row) => JSON.stringify(row)).sort();
    }
    return content;
  } finally {
    db.close();
  }
}

function rideIdsIn(file: string): Set<number> {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return new Set((db.prepare('SELECT ride_id FROM rides').all() as { ride_id: number }[]).map((row) => row.ride_id));
  } finally {
    db.close();
  }
}

function appliedRequestsOf(file: string): unknown[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT request_id, seq, result FROM applied_requests ORDER BY seq').all();
  } finally {
    db.close();
  }
}

function sha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function readManifest(file: string): BackupManifest {
  return manifestSchema.parse(JSON.parse(fs.readFileSync(manifestPathOf(file), 'utf8')));
}

/** A small valid backup made the way the snapshot copy makes one (VACUUM INTO a worker file). */
function makeBackup(dir: string, users: number): string {
  const live = path.join(dir, `live-${users}.db`);
  const store = new Store(live);
  for (let i = 0; i < users; i += 1) store.applyAsMaster(`r${i}`, { op: 'insert', table: 'users', values: { username: `u${i}`, password: PASSWORD } }, 1);
  store.close();
  const file = path.join(dir, `backup-${users}.db`);
  const db = new Database(live);
  db.prepare('VACUUM INTO ?').run(file);
  db.close();
  return file;
}

describe('backup and restore', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rideshare-backup-test-'));
  const services: DatabaseServiceHandle[] = [];
  afterAll(async () => {
    for (const service of services.reverse()) await service.stop().catch(() => undefined);
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('a backup taken over HTTP while a writer writes holds exactly the writes up to its seq; restored into a fresh DATA_DIR, a new cluster serves the same rows', async () => {
    const source = await startDatabaseService({ slaves: 1 });
    services.push(source);
    const url = (route: string) => `${source.orchestratorUrl}${route}`;
    const write = async (body: unknown) => {
      const answer = await post<{ seq: number; epoch: number; insertId?: number }>(url('/api/v1/db/write'), body);
      expect(answer.status, answer.text).toBe(200);
      return answer.body;
    };

    // Before the backup: users, rides in batches, seats.
    for (let i = 0; i < 20; i += 1) await write({ op: 'insert', table: 'users', values: { username: `user${i}`, password: PASSWORD } });
    const initialRides: number[] = [];
    for (let batch = 0; batch < 5; batch += 1) {
      const rows = Array.from({ length: 200 }, (_, i) => ({
        created_by: `user${(batch + i) % 20}`,
        timestamp: 1_900_000_000 + batch * 1000 + i,
        source: 1 + (i % 198),
        destination: 1 + ((i + 5) % 198),
      }));
      const answer = await write({ op: 'insert', table: 'rides', rows });
      for (let i = 0; i < rows.length; i += 1) initialRides.push((answer.insertId as number) + i);
    }
    for (let i = 0; i < 50; i += 1) await write({ op: 'insert', table: 'ride_members', values: { ride_id: initialRides[i * 7] as number, username: `user${(i + 3) % 20}` } });
    await write({ op: 'delete', table: 'rides', where: { ride_id: initialRides[1] as number } });

    // A writer that keeps writing through the backup; every write it sends is acknowledged.
    const acked: { seq: number; rideId: number }[] = [];
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i += 1) {
        const answer = await write({ op: 'insert', table: 'rides', values: { created_by: `user${i % 20}`, timestamp: 1_950_000_000 + i, source: 3, destination: 7 } });
        acked.push({ seq: answer.seq, rideId: answer.insertId as number });
      }
    })();
    const waitForWrites = async (count: number) => {
      const target = acked.length + count;
      expect(await waitFor(() => acked.length >= target, 30_000, 10), `${count} more acknowledged writes`).toBe(true);
    };
    await waitForWrites(20);

    const file = path.join(work, 'drill.db');
    const ackedBeforeRequest = [...acked];
    const backup = await npmRun('backup', [file], { ORCHESTRATOR_URL: source.orchestratorUrl });
    expect(backup.code, backup.stderr).toBe(0);
    expect(backup.stdout).toContain(`backup of cluster '${source.cluster}' at seq`);
    await waitForWrites(20);
    writing = false;
    await writer;

    // The file is what its manifest says, and holds the writes up to its seq and none after.
    const manifest = readManifest(file);
    expect(manifest.cluster).toBe(source.cluster);
    expect(manifest.size).toBe(fs.statSync(file).size);
    expect(manifest.sha256).toBe(sha256(file));
    const lastBefore = ackedBeforeRequest.at(-1) as { seq: number };
    expect(manifest.seq).toBeGreaterThanOrEqual(lastBefore.seq);
    const inBackup = rideIdsIn(file);
    for (const rideId of initialRides) expect(inBackup.has(rideId)).toBe(rideId !== initialRides[1]);
    for (const { seq, rideId } of acked) expect(inBackup.has(rideId), `ride ${rideId} written at seq ${seq}, backup at seq ${manifest.seq}`).toBe(seq <= manifest.seq);
    expect(acked.some(({ seq }) => seq > manifest.seq)).toBe(true);
    expect(fs.readdirSync(path.join(source.dataDir, 'tmp'))).toEqual([]);

    // The old cluster stops; its znodes stay in ZooKeeper, one of them made stale on purpose.
    await source.stop();
    const { zkConnect } = testServers();
    const zk = new ZkClient({ connect: zkConnect, sessionTimeoutMs: 4000, credentials: source.zkAuth });
    await zk.connect();
    await new DesiredSlaves(zk, source.cluster).set(3);
    zk.close();

    // Restored under the same cluster name into a fresh DATA_DIR.
    const dataDir = path.join(work, 'restored');
    const restore = await npmRun('restore', [file], { DATA_DIR: dataDir, RIDESHARE_CLUSTER: source.cluster, ZK_CONNECT: zkConnect, ORCHESTRATOR_URL: 'http://127.0.0.1:9' });
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stdout).toContain(`restored seq ${manifest.seq} (epoch ${manifest.epoch})`);
    expect(fs.existsSync(file)).toBe(true);
    expect(readPendingRestore(dataDir)?.seq).toBe(manifest.seq);

    // The cluster's znodes are the old cluster's: the new DATA_DIR signs in with its ZooKeeper credentials.
    const zkAuth = `${source.zkAuth.user}:${source.zkAuth.password}`;
    const restored = await startDatabaseService({ cluster: source.cluster, dataDir, slaves: 1, env: { ZK_AUTH: zkAuth } });
    services.push(restored);
    const workers = await settledWorkers(restored, 2);
    const expected = contentOf(file);
    for (const worker of workers) {
      const workerFile = path.join(dataDir, 'workers', `${worker.workerId}.db`);
      expect(contentOf(workerFile), `${worker.role} ${worker.workerId}`).toEqual(expected);
      expect(appliedRequestsOf(workerFile)).toEqual(appliedRequestsOf(file));
      expect(worker.appliedSeq).toBe(manifest.seq);
    }
    expect(readPendingRestore(dataDir)).toBeUndefined();
    const marker = JSON.parse(fs.readFileSync(path.join(dataDir, 'cluster.json'), 'utf8')) as { restoredFrom?: { seq: number } };
    expect(marker.restoredFrom?.seq).toBe(manifest.seq);

    // The new cluster carries on from the backup: next seq, a later epoch, ride ids never reused.
    const next = await post<{ seq: number; epoch: number; insertId: number }>(`${restored.orchestratorUrl}/api/v1/db/write`, {
      op: 'insert',
      table: 'rides',
      values: { created_by: 'user1', timestamp: 1_990_000_000, source: 4, destination: 8 },
    });
    expect(next.status, next.text).toBe(200);
    expect(next.body.seq).toBe(manifest.seq + 1);
    expect(next.body.epoch).toBeGreaterThan(manifest.epoch);
    expect(next.body.insertId).toBeGreaterThan(Math.max(...inBackup));
    const count = await post<{ rows: { count: number }[] }>(`${restored.orchestratorUrl}/api/v1/db/read`, { table: 'rides', count: true, fresh: true });
    expect(count.body.rows).toEqual([{ count: inBackup.size + 1 }]);
  }, 240_000);

  describe('refusals', () => {
    const dir = path.join(work, 'refusals');
    fs.mkdirSync(dir, { recursive: true });
    let dataDir: string;
    afterEach(() => fs.rmSync(dataDir, { recursive: true, force: true }));
    const freshDataDir = () => (dataDir = fs.mkdtempSync(path.join(dir, 'data-')));

    it('a file that is not a SQLite database is refused with a clear error and exit code 1', async () => {
      const text = path.join(dir, 'notes.txt');
      fs.writeFileSync(text, 'these are not the rows you are looking for\n'.repeat(10));
      const run = await npmRun('restore', [text], { DATA_DIR: freshDataDir(), RIDESHARE_CLUSTER: uniqueClusterName(), ORCHESTRATOR_URL: 'http://127.0.0.1:9' });
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('is not a SQLite database');
      expect(fs.readdirSync(dataDir)).toEqual([]);
      await expect(installBackup({ backupFile: path.join(dir, 'missing.db'), dataDir })).rejects.toThrow('does not exist');
    });

    it('a file whose SHA-256, size or position differs from its manifest is refused', async () => {
      const file = makeBackup(dir, 5);
      const manifest: BackupManifest = {
        format: 'rideshare-backup',
        version: 1,
        seq: 5,
        epoch: 1,
        sha256: sha256(file),
        size: fs.statSync(file).size,
        takenAt: new Date().toISOString(),
        cluster: 'x',
      };
      const writeManifest = (change: Partial<BackupManifest>) => fs.writeFileSync(manifestPathOf(file), JSON.stringify({ ...manifest, ...change }));
      writeManifest({ sha256: 'f'.repeat(64) });
      await expect(installBackup({ backupFile: file, dataDir: freshDataDir() })).rejects.toThrow(/SHA-256 .* does not match/);
      writeManifest({ size: manifest.size + 1 });
      await expect(installBackup({ backupFile: file, dataDir })).rejects.toThrow(/truncated/);
      writeManifest({ seq: 6 });
      await expect(installBackup({ backupFile: file, dataDir })).rejects.toThrow('holds seq 5 at epoch 1, its manifest says seq 6');
      fs.writeFileSync(manifestPathOf(file), '{"format":"something else"}');
      await expect(installBackup({ backupFile: file, dataDir })).rejects.toThrow('is not a backup manifest');
      expect(fs.readdirSync(dataDir)).toEqual([]);
      writeManifest({});
      const installed = await installBackup({ backupFile: file, dataDir });
      expect(installed.seq).toBe(5);
      expect(sha256(installed.file)).toBe(manifest.sha256);
    });

    it('a damaged file is refused by its integrity check, and a live WAL-mode file is not taken for a backup', async () => {
      const file = makeBackup(dir, 2000);
      const bytes = fs.readFileSync(file);
      const pageSize = bytes.readUInt16BE(16);
      // A whole page in the middle overwritten: a b-tree page of one of the tables (a copy has no free pages).
      const page = Math.floor(bytes.length / pageSize / 2);
      bytes.fill(0xa5, page * pageSize, (page + 1) * pageSize);
      const damaged = path.join(dir, 'damaged.db');
      fs.writeFileSync(damaged, bytes);
      const error = await installBackup({ backupFile: damaged, dataDir: freshDataDir() }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(InvalidBackupError);
      expect((error as Error).message).toMatch(/damaged|cannot be read/);
      await expect(installBackup({ backupFile: path.join(dir, 'live-2000.db'), dataDir })).rejects.toThrow('WAL mode');
      expect(fs.readdirSync(dataDir)).toEqual([]);
    });

    it('a DATA_DIR that holds a cluster is refused; --force moves its data aside and deletes nothing', async () => {
      const file = makeBackup(dir, 3);
      freshDataDir();
      fs.mkdirSync(path.join(dataDir, 'workers'));
      fs.writeFileSync(path.join(dataDir, 'cluster.json'), '{"cluster":"old"}');
      fs.writeFileSync(path.join(dataDir, 'workers', 'w-old.db'), 'the only copy of something');
      const cluster = uniqueClusterName();
      const env = { DATA_DIR: dataDir, RIDESHARE_CLUSTER: cluster, ORCHESTRATOR_URL: 'http://127.0.0.1:9' };
      const refused = await npmRun('restore', [file], env);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('already holds a cluster');
      expect(refused.stderr).toContain('--force');

      const forced = await npmRun('restore', [file, '--force'], env);
      expect(forced.code, forced.stderr).toBe(0);
      const aside = fs.readdirSync(dataDir).filter((name) => name.startsWith('replaced-'));
      expect(aside).toHaveLength(1);
      expect(fs.readFileSync(path.join(dataDir, aside[0] as string, 'workers', 'w-old.db'), 'utf8')).toBe('the only copy of something');
      expect(fs.readFileSync(path.join(dataDir, aside[0] as string, 'cluster.json'), 'utf8')).toBe('{"cluster":"old"}');
      const pending = readPendingRestore(dataDir);
      expect(pending?.seq).toBe(3);
      expect(sha256(path.join(dataDir, 'workers', pending?.file as string))).toBe(sha256(file));
      expect(fs.existsSync(file)).toBe(true);

      // A pending restore counts as a cluster too: a second restore is refused in turn.
      await expect(installBackup({ backupFile: file, dataDir })).rejects.toBeInstanceOf(RestoreRefusedError);
    });

    it('a running cluster is refused, even with --force', async () => {
      const service = await startDatabaseService({ slaves: 0 });
      services.push(service);
      const check = ensureClusterStopped({ cluster: service.cluster, zkConnect: service.zkConnect, orchestratorUrls: [service.orchestratorUrl] });
      await expect(check).rejects.toThrow(`cluster '${service.cluster}' is running`);
      await expect(ensureClusterStopped({ cluster: uniqueClusterName(), zkConnect: service.zkConnect, orchestratorUrls: [service.orchestratorUrl] })).resolves.toBeUndefined();
      await service.stop();
    });

    it('RESTORE_FROM installs the backup into an empty DATA_DIR only', async () => {
      const file = makeBackup(dir, 4);
      expect(loadConfig({ RESTORE_FROM: file }).RESTORE_FROM).toBe(file);
      const installed = await restoreOnFirstStart({ backupFile: file, dataDir: freshDataDir(), logger: quiet });
      expect(installed?.seq).toBe(4);
      expect(await restoreOnFirstStart({ backupFile: file, dataDir, logger: quiet })).toBeUndefined();
      expect(fs.readdirSync(path.join(dataDir, 'workers'))).toHaveLength(1);
    });
  });

  describe('the endpoint', () => {
    it('answers other methods with 405 naming POST, and one backup at a time per orchestrator', async () => {
      const service = await startDatabaseService({ slaves: 1 });
      services.push(service);
      const url = `${service.orchestratorUrl}/api/v1/db/backup`;
      const wrongMethod = await httpRequest('GET', url);
      expect(wrongMethod.status).toBe(405);
      expect(wrongMethod.headers.allow).toBe('POST');
      expect(wrongMethod.body).toMatchObject({ code: 'METHOD_NOT_ALLOWED' });

      const [first, second] = await Promise.all([httpRequest('POST', url), httpRequest('POST', url)]);
      const statuses = [first.status, second.status].sort();
      expect(statuses).toEqual([200, 503]);
      const answered = first.status === 200 ? first : second;
      expect(answered.headers['content-type']).toBe('application/octet-stream');
      expect(Number(answered.headers['x-rideshare-seq'])).toBeGreaterThanOrEqual(0);
      const busy = first.status === 503 ? first : second;
      expect(busy.body).toMatchObject({ code: 'UNAVAILABLE' });
      await service.stop();
    });

    it('with no slave, the master serves the copy, and it holds every write acknowledged before the request', async () => {
      const service = await startDatabaseService({ slaves: 0 });
      services.push(service);
      const names = ['solo-a', 'solo-b', 'solo-c'];
      let lastSeq = 0;
      for (const username of names) {
        const written = await post<{ seq: number }>(`${service.orchestratorUrl}/api/v1/db/write`, { op: 'insert', table: 'users', values: { username, password: PASSWORD } });
        expect(written.status).toBe(200);
        lastSeq = written.body.seq;
      }
      const answer = await fetch(`${service.orchestratorUrl}/api/v1/db/backup`, { method: 'POST', signal: AbortSignal.timeout(30_000) });
      expect(answer.status).toBe(200);
      expect(Number(answer.headers.get('x-rideshare-seq'))).toBeGreaterThanOrEqual(lastSeq);
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rideshare-backup-solo-')), 'copy.db');
      try {
        fs.writeFileSync(file, Buffer.from(await answer.arrayBuffer()));
        expect(createHash('sha256').update(fs.readFileSync(file)).digest('hex')).toBe(answer.headers.get('x-rideshare-sha256'));
        const stored = contentOf(file)
          .users!.map((row) => (JSON.parse(String(row)) as { username: string }).username)
          .sort();
        expect(stored).toEqual(names);
      } finally {
        fs.rmSync(path.dirname(file), { recursive: true, force: true });
      }
      await service.stop();
    });

    it('needs the admin token when authorization is on; npm run backup finds it in DATA_DIR/secrets', async () => {
      const service = await startDatabaseService({ slaves: 1, env: { RIDESHARE_AUTH: 'on' } });
      services.push(service);
      const tokens = service.tokens as { admin: string; service: string };
      const file = path.join(work, 'with-auth.db');
      const env = { ORCHESTRATOR_URL: service.orchestratorUrl };
      const anonymous = await npmRun('backup', [file], { ...env, DATA_DIR: path.join(work, 'no-secrets-here') });
      expect(anonymous.code).toBe(1);
      expect(anonymous.stderr).toContain('401');
      expect(anonymous.stderr).toContain('admin token');
      const asService = await npmRun('backup', [file], { ...env, ADMIN_TOKEN: tokens.service });
      expect(asService.code).toBe(1);
      expect(asService.stderr).toContain('403');
      expect(fs.existsSync(file)).toBe(false);
      const asAdmin = await npmRun('backup', [file], { ...env, DATA_DIR: service.dataDir });
      expect(asAdmin.code, asAdmin.stderr).toBe(0);
      expect(readManifest(file).sha256).toBe(sha256(file));
      await service.stop();
    });
  });
});
