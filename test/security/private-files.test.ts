/**
 * What the system writes is for the user that runs it alone: every entry point makes DATA_DIR
 * 0700 or tightens one open to others (and says so once), and the workers' SQLite files (their
 * -wal and -shm too), worker logs, backups and their manifests and installed restores are 0600,
 * whatever the umask of whoever started them. This test process keeps the usual 022 umask on
 * purpose: what is private here is private by the code's own doing.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDatabaseService, uniqueClusterName, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { post } from '../../harness/http.ts';
import { testServers } from '../../harness/inject.ts';
import { TEST_CLUSTER_KEY } from '../../harness/signing.ts';
import { settledWorkers } from '../../harness/workers.ts';
import { TEST_ZK_AUTH } from '../../harness/zk-auth.ts';
import { downloadBackup } from '../../src/dbaas/backup/backup-download.ts';
import { manifestPathOf } from '../../src/dbaas/backup/backup-format.ts';
import { installBackup } from '../../src/dbaas/backup/restore.ts';
import { restoreRecordPath } from '../../src/dbaas/supervisor/cluster-files.ts';
import { Store } from '../../src/dbaas/worker/Store.ts';
import { encodeWorkerSettings, WORKER_SETTINGS_VARIABLE } from '../../src/dbaas/worker/WorkerSettings.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
/** Nothing listens there: the tools and entry points fail fast after their start-up steps. */
const NOBODY = 'http://127.0.0.1:9';

const modeOf = (file: string) => (fs.statSync(file).mode & 0o777).toString(8);

interface Run {
  code: number;
  output: string;
}

/** One of the project's entry points, from source, as its npm script runs it. */
function runEntry(entry: string, args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', path.join(ROOT, entry), ...args], { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'info', ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

describe('DATA_DIR is 0700 at every start', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rideshare-private-'));
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  /** A DATA_DIR as `mkdir` or Docker leaves it: readable and enterable by every local user. */
  const openDir = (name: string) => {
    const dir = path.join(work, name);
    fs.mkdirSync(dir, { recursive: true });
    fs.chmodSync(dir, 0o755);
    return dir;
  };

  /** Each entry point with settings that end it soon after its start-up steps. */
  const entryPoints: Array<{ name: string; entry: string; args: string[]; env: (dataDir: string) => Record<string, string> }> = [
    // RESTORE_FROM a file that is not there: the start fails at once, before any server starts.
    { name: 'npm start', entry: 'src/main.ts', args: [], env: (dataDir) => ({ DATA_DIR: dataDir, RESTORE_FROM: path.join(work, 'missing.db'), ORCHESTRATOR_PORT: '1' }) },
    // Without AMQP_URL and ZK_CONNECT the orchestrator exits with 2 at once.
    { name: 'the orchestrator', entry: 'src/dbaas/orchestrator/main.ts', args: [], env: (dataDir) => ({ DATA_DIR: dataDir, AMQP_URL: '', ZK_CONNECT: '' }) },
    {
      name: 'npm run restore',
      entry: 'src/tools/restore.ts',
      args: [path.join(work, 'missing.db')],
      env: (dataDir) => ({ DATA_DIR: dataDir, ORCHESTRATOR_URL: NOBODY, ZK_CONNECT: testServers().zkConnect, RIDESHARE_CLUSTER: uniqueClusterName('private') }),
    },
    { name: 'npm run backup', entry: 'src/tools/backup.ts', args: [path.join(work, 'never.db')], env: (dataDir) => ({ DATA_DIR: dataDir, ORCHESTRATOR_URL: NOBODY }) },
  ];

  for (const { name, entry, args, env } of entryPoints) {
    it(`${name} tightens a DATA_DIR open to others to 0700, and says so once`, async () => {
      const dataDir = openDir(name.replace(/\W+/g, '-'));
      const first = await runEntry(entry, args, env(dataDir));
      expect(first.code, first.output).not.toBe(0);
      expect(modeOf(dataDir)).toBe('700');
      expect(first.output).toContain(`tightened ${dataDir} from 0755 to 0700`);
      const again = await runEntry(entry, args, env(dataDir));
      expect(again.output).not.toContain('tightened');
    });
  }

  it('npm run restore makes a missing DATA_DIR 0700', async () => {
    const dataDir = path.join(work, 'made-by-restore', 'data');
    const run = await runEntry('src/tools/restore.ts', [path.join(work, 'missing.db')], {
      DATA_DIR: dataDir,
      ORCHESTRATOR_URL: NOBODY,
      ZK_CONNECT: testServers().zkConnect,
      RIDESHARE_CLUSTER: uniqueClusterName('private'),
    });
    expect(run.code, run.output).toBe(1);
    expect(modeOf(dataDir)).toBe('700');
  });

  it('a worker tightens the folder of its files to 0700', async () => {
    const workersDir = openDir('worker-data/workers');
    const settings = {
      workerId: 'w-private',
      role: 'slave' as const,
      dbFile: path.join(workersDir, 'w-private.db'),
      cluster: uniqueClusterName('private'),
      // Nothing answers there: the worker fails to start after its start-up steps.
      amqpUrl: 'amqp://127.0.0.1:9',
      zkConnect: '127.0.0.1:9',
      zkSessionTimeoutMs: 1000,
      readWaitMs: 100,
      snapshotTimeoutMs: 1000,
      durability: 'process' as const,
      logLevel: 'info',
      clusterKey: TEST_CLUSTER_KEY,
      zkAuth: TEST_ZK_AUTH,
    };
    const run = await runEntry('src/dbaas/worker/main.ts', [], { [WORKER_SETTINGS_VARIABLE]: encodeWorkerSettings(settings) });
    expect(run.code, run.output).not.toBe(0);
    expect(modeOf(workersDir)).toBe('700');
    expect(run.output).toContain(`tightened ${workersDir} from 0755 to 0700`);
  });
});

describe('the data and its copies are 0600', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rideshare-private-files-'));
  let service: DatabaseServiceHandle;

  beforeAll(async () => {
    service = await startDatabaseService({ slaves: 1 });
    const answer = await post(`${service.orchestratorUrl}/api/v1/db/write`, { op: 'insert', table: 'users', values: { username: 'private1', password: 'ab'.repeat(20) } });
    expect(answer.status, answer.text).toBe(200);
  });

  afterAll(async () => {
    await service?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('a running cluster\u2019s worker databases, their -wal and -shm, and the worker logs are 0600; their folder 0700', async () => {
    const workers = await settledWorkers(service, 2);
    const workersDir = path.join(service.dataDir, 'workers');
    expect(modeOf(workersDir)).toBe('700');
    for (const worker of workers) {
      const dbFile = path.join(workersDir, `${worker.workerId}.db`);
      for (const file of [dbFile, `${dbFile}-wal`, `${dbFile}-shm`]) expect(`${path.basename(file)} ${modeOf(file)}`).toBe(`${path.basename(file)} 600`);
      const log = path.join(service.dataDir, 'logs', `${worker.workerId}.log`);
      expect(`${path.basename(log)} ${modeOf(log)}`).toBe(`${path.basename(log)} 600`);
    }
  });

  it('a store opened under a 022 umask makes its files 0600, and tightens those an earlier version left 0644', () => {
    const dbFile = path.join(work, 'store.db');
    fs.writeFileSync(dbFile, '');
    fs.chmodSync(dbFile, 0o644);
    const store = new Store(dbFile);
    try {
      store.applyAsMaster('request-private-2', { op: 'insert', table: 'users', values: { username: 'private2', password: 'cd'.repeat(20) } }, 1);
      for (const file of [dbFile, `${dbFile}-wal`, `${dbFile}-shm`]) expect(`${path.basename(file)} ${modeOf(file)}`).toBe(`${path.basename(file)} 600`);
    } finally {
      store.close();
    }
  });

  it('a backup and its manifest are 0600, and so are the copy a restore installs and its record, whatever the backup\u2019s mode', async () => {
    const file = path.join(work, 'backup.db');
    const taken = await downloadBackup({ orchestratorUrls: [service.orchestratorUrl], file });
    expect(modeOf(taken.file)).toBe('600');
    expect(modeOf(manifestPathOf(taken.file))).toBe('600');

    fs.chmodSync(file, 0o644);
    const dataDir = path.join(work, 'restored');
    const installed = await installBackup({ backupFile: file, dataDir });
    expect(modeOf(installed.file)).toBe('600');
    expect(modeOf(restoreRecordPath(dataDir))).toBe('600');
    expect(modeOf(path.dirname(installed.file))).toBe('700');
  });
});
