/**
 * Debian packages a bed's servers need and a minimal install lacks (the Patroni anchor's patroni,
 * etcd-server and postgresql): each is looked up with `dpkg -s`, and those missing are installed
 * with apt-get when running as root, as nft.ts does for nftables; otherwise the error names them.
 */
import { RideShareError } from '../../src/shared/errors.ts';
import { run, runSync } from './commands.ts';

let installing: Promise<void> | undefined;

function installed(name: string): boolean {
  try {
    return /^Status: install ok installed$/m.test(runSync(['dpkg', '-s', name]));
  } catch {
    return false;
  }
}

/** Resolves once every package is installed; installs the missing ones (one apt-get at a time). */
export async function ensureDebianPackages(names: readonly string[]): Promise<void> {
  if (installing !== undefined) await installing.catch(() => undefined);
  const missing = names.filter((name) => !installed(name));
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) throw new RideShareError('CONFIG_INVALID', `missing Debian packages: sudo apt-get install ${missing.join(' ')}`);
  installing = (async () => {
    const apt = ['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get'];
    await run([...apt, 'update'], { timeoutMs: 300_000 });
    await run([...apt, 'install', '-y', ...missing], { timeoutMs: 900_000 });
  })().finally(() => (installing = undefined));
  await installing;
  const still = missing.filter((name) => !installed(name));
  if (still.length > 0) throw new RideShareError('INTERNAL', `apt-get installed ${missing.join(' ')} but these are still missing: ${still.join(' ')}`);
}
