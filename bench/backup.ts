/**
 * Backup and restore of a database of `--rides` rides (default 1,000,000), `--runs` times each
 * (default 3), medians printed:
 * - backup: `POST /api/v1/db/backup` through the orchestrator to a verified file on disk (what
 *   `npm run backup` does: stream, SHA-256, integrity check, rename, manifest), while a writer
 *   keeps writing one ride at a time; how many of its writes were acknowledged meanwhile;
 * - restore: installing the backup into a fresh DATA_DIR (what `npm run restore` does: checks,
 *   copy, SHA-256 of the copy), then a new cluster's start from it until its master serves (a ready
 *   master registered), and until its first slave serves too (it copies the database first).
 * `npx tsx bench/backup.ts [--rides N] [--runs N]`
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { downloadBackup } from '../src/dbaas/backup/backup-download.ts';
import { inspectBackup } from '../src/dbaas/backup/backup-file.ts';
import { installBackup } from '../src/dbaas/backup/restore.ts';
import { Orchestrator } from '../src/dbaas/orchestrator/Orchestrator.ts';
import { clusterSettingsFrom } from '../src/dbaas/settings/ClusterSettings.ts';
import { workerTuningFrom } from '../src/dbaas/settings/WorkerTuning.ts';
import { ProcessRuntime } from '../src/dbaas/runtime/ProcessRuntime.ts';
import { ensureRabbitMq, ensureZooKeeper, type ServerHandle } from '../src/infra/servers.ts';
import { loadConfig } from '../src/shared/config.ts';
import { createLogger, type Logger } from '../src/shared/logger.ts';
import { sleep } from '../src/shared/timeout.ts';
import { post } from '../harness/http.ts';
import { fillRides } from './lib/failover-probes.ts';
import { median } from './lib/load.ts';
import { freePort } from './lib/system.ts';

const MIB = 1024 * 1024;
const say = (line: string) => process.stdout.write(`${line}\n`);

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
}

interface Servers {
  rabbit: ServerHandle;
  zookeeper: ServerHandle;
}

async function startCluster(servers: Servers, cluster: string, dataDir: string, logger: Logger): Promise<Orchestrator> {
  const config = loadConfig({
    LOG_LEVEL: 'warn',
    DATA_DIR: dataDir,
    SNAPSHOT_TIMEOUT_MS: '120000',
    RIDESHARE_CLUSTER: cluster,
    AMQP_URL: servers.rabbit.address,
    ZK_CONNECT: servers.zookeeper.address,
  });
  return new Orchestrator({
    port: await freePort(),
    ...clusterSettingsFrom(config),
    dataDir,
    // The benchmarks measure the database service itself: no tokens between them and it.
    auth: { enabled: false },
    rpcTimeoutMs: 30_000,
    sessionTimeoutMs: 4000,
    initialSlaves: 1,
    runtime: new ProcessRuntime({ cluster, logDir: path.join(dataDir, 'logs'), logger }),
    workerTuning: workerTuningFrom(config),
    logger,
  });
}

interface BackupRun {
  seconds: number;
  verifySeconds: number;
  bytes: number;
  seq: number;
  writesDuring: number;
}

/** One backup while a writer keeps writing, one ride per write, each after the last was answered. */
async function measureBackup(orchestrator: Orchestrator, file: string): Promise<BackupRun> {
  let writing = true;
  let writesDuring = 0;
  const writer = (async () => {
    for (let i = 0; writing; i += 1) {
      const answer = await post(`${orchestrator.url}/api/v1/db/write`, { op: 'insert', table: 'rides', values: { created_by: 'filler', timestamp: 1_800_000_000 + i, source: 1, destination: 2 } });
      if (answer.status !== 200) throw new Error(`a write during the backup failed: ${answer.status} ${answer.text}`);
      writesDuring += 1;
    }
  })();
  const started = performance.now();
  const taken = await downloadBackup({ orchestratorUrls: [orchestrator.url], file, force: true, readyTimeoutMs: 120_000 });
  const seconds = (performance.now() - started) / 1000;
  writing = false;
  await writer;
  const verifyStarted = performance.now();
  await inspectBackup(file, taken.manifest);
  return { seconds, verifySeconds: (performance.now() - verifyStarted) / 1000, bytes: taken.manifest.size, seq: taken.manifest.seq, writesDuring };
}

interface RestoreRun {
  installSeconds: number;
  masterSeconds: number;
  clusterSeconds: number;
  rides: number;
}

/** Install into a fresh DATA_DIR, then a new cluster from it: its master serving, then its slave. */
async function measureRestore(servers: Servers, backup: string, logger: Logger): Promise<RestoreRun> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rideshare-bench-restore-'));
  const cluster = `bench-restore-${Date.now().toString(36)}`;
  const started = performance.now();
  await installBackup({ backupFile: backup, dataDir });
  const installSeconds = (performance.now() - started) / 1000;
  const orchestrator = await startCluster(servers, cluster, dataDir, logger);
  try {
    const starting = orchestrator.start();
    let masterSeconds = Number.NaN;
    for (;;) {
      const workers = await orchestrator.workers().catch(() => []);
      if (workers.some((worker) => worker.role === 'master' && worker.ready)) {
        masterSeconds = (performance.now() - started) / 1000;
        break;
      }
      await sleep(20);
    }
    await starting;
    const clusterSeconds = (performance.now() - started) / 1000;
    const count = await post<{ rows: { count: number }[] }>(`${orchestrator.url}/api/v1/db/read`, { table: 'rides', count: true, fresh: true });
    return { installSeconds, masterSeconds, clusterSeconds, rides: count.body.rows[0]?.count ?? -1 };
  } finally {
    await orchestrator.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const rides = option('rides', 1_000_000);
  const runs = option('runs', 3);
  const logger = createLogger('bench', 'warn');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rideshare-bench-backup-'));
  const servers: Servers = { rabbit: await ensureRabbitMq({ dataDir, logger }), zookeeper: await ensureZooKeeper({ dataDir, logger }) };
  const orchestrator = await startCluster(servers, `bench-backup-${Date.now().toString(36)}`, dataDir, logger);
  const backup = path.join(dataDir, 'backup.db');
  try {
    await orchestrator.start();
    const filled = performance.now();
    await fillRides(orchestrator.url, rides);
    say(`filled ${rides.toLocaleString('en')} rides in ${((performance.now() - filled) / 1000).toFixed(1)} s`);

    say(`\n## Backup (${rides.toLocaleString('en')} rides, a writer writing throughout)\n`);
    const backups: BackupRun[] = [];
    for (let run = 1; run <= runs; run += 1) {
      const result = await measureBackup(orchestrator, backup);
      backups.push(result);
      say(
        `run ${run}: ${result.seconds.toFixed(2)} s to a verified file (${(result.bytes / MIB).toFixed(1)} MiB at seq ${result.seq}; ` +
          `its check alone ${result.verifySeconds.toFixed(2)} s); ${result.writesDuring} writes acknowledged meanwhile`,
      );
    }
    await orchestrator.stop();

    say(`\n## Restore into a fresh DATA_DIR and start a new cluster from it\n`);
    const restores: RestoreRun[] = [];
    for (let run = 1; run <= runs; run += 1) {
      const result = await measureRestore(servers, backup, logger);
      restores.push(result);
      say(
        `run ${run}: installed in ${result.installSeconds.toFixed(2)} s; master serving ${result.masterSeconds.toFixed(2)} s, ` +
          `master and slave serving ${result.clusterSeconds.toFixed(2)} s after the restore began; ${result.rides.toLocaleString('en')} rides read back`,
      );
    }

    const pick = <T>(list: T[], value: (item: T) => number) => median(list.map(value)).toFixed(2);
    say(`\n| ${rides.toLocaleString('en')} rides, median of ${runs} | seconds |`);
    say('| --- | --- |');
    say(`| backup: request → verified file and manifest on disk | ${pick(backups, (r) => r.seconds)} |`);
    say(`| restore: install (checks, copy, checksum of the copy) | ${pick(restores, (r) => r.installSeconds)} |`);
    say(`| restore: install + new cluster's master serving | ${pick(restores, (r) => r.masterSeconds)} |`);
    say(`| restore: install + master and one slave serving | ${pick(restores, (r) => r.clusterSeconds)} |`);
  } finally {
    await orchestrator.stop();
    await servers.zookeeper.stop();
    await servers.rabbit.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
