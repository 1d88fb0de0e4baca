/**
 * nftables inside a host's namespace: the bed's faults are rules there, in a table named for the
 * bed, never in the machine's own namespace. Debian leaves nft out of a minimal install; like the
 * project's servers (src/infra/servers.ts), the bed installs its package with apt-get when root
 * and missing, and otherwise says which package to install.
 */
import fs from 'node:fs';
import { RideShareError } from '../../src/shared/errors.ts';
import { run } from './commands.ts';

const NFT_PATHS = ['/usr/sbin/nft', '/sbin/nft', '/usr/bin/nft'];
const NFT_PACKAGE = 'nftables';
let installing: Promise<void> | undefined;

function nftPresent(): boolean {
  return NFT_PATHS.some((file) => fs.existsSync(file));
}

export function ensureNft(): Promise<void> {
  if (nftPresent()) return Promise.resolve();
  installing ??= install().finally(() => (installing = undefined));
  return installing;
}

async function install(): Promise<void> {
  if (process.getuid?.() !== 0) throw new RideShareError('CONFIG_INVALID', `nft is missing: install the Debian package ${NFT_PACKAGE} (sudo apt-get install ${NFT_PACKAGE})`);
  await run(['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'update'], { timeoutMs: 300_000 });
  await run(['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'install', '-y', NFT_PACKAGE], { timeoutMs: 900_000 });
  if (!nftPresent()) throw new RideShareError('INTERNAL', `installed ${NFT_PACKAGE} but nft is still missing`);
}

/** Runs an nft script atomically (all of it or none) inside a namespace. */
export async function nftIn(namespace: string, script: string): Promise<void> {
  await ensureNft();
  await run(['ip', 'netns', 'exec', namespace, 'nft', '-f', '-'], { input: script });
}

export async function nftListIn(namespace: string): Promise<string> {
  await ensureNft();
  return run(['ip', 'netns', 'exec', namespace, 'nft', 'list', 'ruleset']);
}
