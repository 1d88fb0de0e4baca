/**
 * `npm run restore -- <file> [--force]`: checks a backup (SQLite header, integrity, and size,
 * SHA-256 and position against <file>.json when it is there) and installs a copy of it in DATA_DIR,
 * so that the next `npm start` starts cluster RIDESHARE_CLUSTER from it. Refuses while the cluster
 * runs, and when DATA_DIR already holds a cluster's data unless --force, which moves that data
 * aside (DATA_DIR/replaced-<time>/) and deletes nothing. The backup file itself is only read.
 * Exit 0 when installed, 1 when refused or invalid, 2 on bad usage.
 */
import { ensureClusterStopped, installBackup } from '../dbaas/backup/restore.ts';
import { loadConfig } from '../shared/config.ts';
import { portAccepts } from '../shared/processes.ts';
import { keepFilesPrivate, secureDataDir } from '../shared/private-files.ts';
import { readCommandLine, toStderr } from './command-line.ts';

const USAGE = 'usage: npm run restore -- <file> [--force]';
/** Where `npm start` finds ZooKeeper when ZK_CONNECT is not set (src/infra/servers.ts). */
const LOCAL_ZOOKEEPER_PORT = 2181;

async function main(): Promise<number> {
  const commandLine = readCommandLine(USAGE, { force: { type: 'boolean' } } as const);
  if (typeof commandLine === 'number') return commandLine;
  const { file, values } = commandLine;
  keepFilesPrivate();
  const config = loadConfig();
  secureDataDir(config.DATA_DIR, toStderr);
  const cluster = config.RIDESHARE_CLUSTER;
  const zkConnect = config.ZK_CONNECT ?? ((await portAccepts(LOCAL_ZOOKEEPER_PORT)) ? `127.0.0.1:${LOCAL_ZOOKEEPER_PORT}` : undefined);
  await ensureClusterStopped({ cluster, ...(zkConnect ? { zkConnect } : {}), orchestratorUrls: config.ORCHESTRATOR_URLS });
  const installed = await installBackup({ backupFile: file, dataDir: config.DATA_DIR, force: values.force ?? false });
  const rows = Object.entries(installed.rows)
    .map(([table, count]) => `${table} ${count}`)
    .join(', ');
  const lines = [
    `restored ${installed.manifest ? '' : '(no manifest found: checked by its content only) '}seq ${installed.seq} (epoch ${installed.epoch}), rows: ${rows}`,
    `  installed ${installed.file}`,
    ...(installed.movedAside ? [`  the data found in ${config.DATA_DIR} was moved to ${installed.movedAside}`] : []),
    `  the next start of cluster '${cluster}' with DATA_DIR=${config.DATA_DIR} begins from it (npm start)`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`restore failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
