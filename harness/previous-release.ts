/**
 * The previous release of the project (the last one of the previous protocol version), built
 * once per machine into a folder of the system's temporary directory keyed by its commit, so a
 * test can run the old system and upgrade it to this one. The sources come from this
 * repository's own history (`git archive`); the packages are this checkout's when they hold every
 * package the release locks, as locked (a link, no install), else installed with `npm ci --prefer-offline`.
 *
 * A build is made in a folder of its own and renamed into place: two test runs that build at
 * once both finish, and a folder in place is always a complete build.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The last release that speaks protocol 3: the parent of the commit that introduced protocol 4
 * (the signed envelope, exclusive reply queues, snapshot protocol 2).
 */
export const LAST_PROTOCOL_3_RELEASE = '78336b1^';

const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface PreviousRelease {
  /** The full commit built. */
  commit: string;
  /** The built release: its src/, dist/ and node_modules. */
  dir: string;
}

/** The previous release, built: from the cache when it is there, else made now (about a minute). */
export function previousRelease(revision = LAST_PROTOCOL_3_RELEASE): PreviousRelease {
  const commit = git(['rev-parse', '--verify', `${revision}^{commit}`]).trim();
  const dir = path.join(os.tmpdir(), 'rideshare-releases', commit);
  if (fs.existsSync(path.join(dir, 'dist', '.built'))) {
    if (packagesServe(dir)) return { commit, dir };
    // Its packages cannot be had again without an install: built again from scratch, below.
    fs.rmSync(dir, { recursive: true, force: true });
  }
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const building = fs.mkdtempSync(`${dir}.building-`);
  try {
    const archive = path.join(building, 'release.tar');
    git(['archive', '--format=tar', '-o', archive, commit]);
    run('tar', ['-xf', archive, '-C', building]);
    fs.rmSync(archive);
    installPackages(building);
    run(process.execPath, ['scripts/build.mjs', '--force'], building);
    try {
      fs.renameSync(building, dir);
    } catch (error) {
      // Another run finished the same build first: theirs is as good.
      if (!fs.existsSync(path.join(dir, 'dist', '.built'))) throw error;
      fs.rmSync(building, { recursive: true, force: true });
    }
  } catch (error) {
    fs.rmSync(building, { recursive: true, force: true });
    throw error;
  }
  return { commit, dir };
}

/**
 * This checkout's packages serve (a link) when they hold every package the release locks, at the
 * same version and integrity: the release's lockfile is then a part of this one (a later release
 * added packages, none changed), and an install of its own would only build the same packages
 * again (better-sqlite3 compiled from source: a minute or more on two cores). Else an install of
 * its own.
 */
function installPackages(dir: string): void {
  const ours = path.join(PROJECT_ROOT, 'node_modules');
  if (locksNothingElse(path.join(dir, 'package-lock.json'), path.join(PROJECT_ROOT, 'package-lock.json')) && fs.existsSync(ours)) {
    fs.symlinkSync(fs.realpathSync(ours), path.join(dir, 'node_modules'), 'dir');
    return;
  }
  run('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund'], dir);
}

/**
 * A cached build's packages are there, or are linked again: the cache outlives the checkout whose
 * packages it linked (a clean clone per run), so the link may point nowhere now. The new link is
 * made beside and renamed over the dead one, so a run reading the folder meanwhile never sees
 * none. False when this checkout's packages do not serve it (then it needs an install of its own).
 */
function packagesServe(dir: string): boolean {
  const packages = path.join(dir, 'node_modules');
  if (fs.existsSync(packages)) return true;
  const ours = path.join(PROJECT_ROOT, 'node_modules');
  if (!fs.existsSync(ours) || !locksNothingElse(path.join(dir, 'package-lock.json'), path.join(PROJECT_ROOT, 'package-lock.json'))) return false;
  const link = `${packages}.${process.pid}`;
  fs.rmSync(link, { force: true });
  fs.symlinkSync(fs.realpathSync(ours), link, 'dir');
  fs.renameSync(link, packages);
  return true;
}

interface Lockfile {
  packages?: Record<string, { version?: string; integrity?: string }>;
}

/** Every installed package `release` locks is locked in `ours` at the same version and integrity (the root entry aside: its name and scripts are the release's own). */
export function locksNothingElse(releaseLock: string, ourLock: string): boolean {
  const release = JSON.parse(fs.readFileSync(releaseLock, 'utf8')) as Lockfile;
  const ours = JSON.parse(fs.readFileSync(ourLock, 'utf8')) as Lockfile;
  if (!release.packages || !ours.packages) return false;
  for (const [where, locked] of Object.entries(release.packages)) {
    if (where === '') continue;
    const same = ours.packages[where];
    if (!same || same.version !== locked.version || same.integrity !== locked.integrity) return false;
  }
  return true;
}

function git(args: string[]): string {
  return execFileSync('git', args, { cwd: PROJECT_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function run(command: string, args: string[], cwd = PROJECT_ROOT): void {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10 * 60_000 });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed in ${cwd} (${result.status ?? result.signal}):\n${(result.stderr || result.stdout).slice(-3000)}`);
  }
}
