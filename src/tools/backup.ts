/**
 * `npm run backup -- <file> [--force] [--url URL]`: a consistent backup of the running database
 * service, taken through an orchestrator (ORCHESTRATOR_URL, or --url) while writes go on, written
 * to <file> atomically with its manifest <file>.json (seq, epoch, sha256, size, takenAt, cluster).
 * It presents the admin token (ADMIN_TOKEN, or DATA_DIR/secrets/admin.token).
 * Exit 0 when both are written and verified, 1 when no backup could be taken, 2 on bad usage.
 */
import fs from 'node:fs';
import { downloadBackup } from '../dbaas/backup/backup-download.ts';
import { tokenFile } from '../shared/auth/tokens.ts';
import { loadConfig, type Config } from '../shared/config.ts';
import { keepFilesPrivate, secureDataDir } from '../shared/private-files.ts';
import { readCommandLine, toStderr } from './command-line.ts';

const USAGE = 'usage: npm run backup -- <file> [--force] [--url http://host:port]';
const MIB = 1024 * 1024;

async function main(): Promise<number> {
  const commandLine = readCommandLine(USAGE, { force: { type: 'boolean' }, url: { type: 'string', multiple: true } } as const);
  if (typeof commandLine === 'number') return commandLine;
  const { file, values } = commandLine;
  keepFilesPrivate();
  const config = loadConfig();
  // Only read here (the admin token): tightened when it is there, never made.
  secureDataDir(config.DATA_DIR, toStderr, { create: false });
  const urls = values.url && values.url.length > 0 ? values.url : config.ORCHESTRATOR_URLS;
  const taken = await downloadBackup({
    orchestratorUrls: urls,
    file,
    force: values.force ?? false,
    // The orchestrator gives up after SNAPSHOT_TIMEOUT_MS; its 503 must reach us before we give up.
    readyTimeoutMs: config.SNAPSHOT_TIMEOUT_MS + 15_000,
    ...adminToken(config),
  });
  const { manifest, inspected } = taken;
  const rows = Object.entries(inspected.rows)
    .map(([table, count]) => `${table} ${count}`)
    .join(', ');
  process.stdout.write(
    `backup of cluster '${manifest.cluster}' at seq ${manifest.seq} (epoch ${manifest.epoch}): ${taken.file}\n` +
      `  ${sizeText(manifest.size)}, sha256 ${manifest.sha256}, rows: ${rows}\n` +
      `  manifest ${taken.manifestFile}; taken through ${taken.from} in ${(taken.ms / 1000).toFixed(1)} s\n`,
  );
  return 0;
}

function sizeText(bytes: number): string {
  return bytes < MIB ? `${(bytes / 1024).toFixed(0)} KiB` : `${(bytes / MIB).toFixed(1)} MiB`;
}

/** ADMIN_TOKEN, else the cluster's token file if DATA_DIR has one; never a new one made here. */
function adminToken(config: Config): { token?: string } {
  if (config.ADMIN_TOKEN) return { token: config.ADMIN_TOKEN };
  try {
    const token = fs.readFileSync(tokenFile(config.DATA_DIR, 'admin'), 'utf8').trim();
    return token === '' ? {} : { token };
  } catch {
    return {};
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`backup failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
