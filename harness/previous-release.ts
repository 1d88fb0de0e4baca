/**
 * The previous release of the project (the last one of the previous protocol version), built
 * once per machine into a folder of the system's temporary directory keyed by its commit, so a
 * test can run the old system and upgrade it to this one. The sources come from this
 * repository's own history (`git archive`); the packages are this checkout's when the lockfile
 * is the same (a link, no install), else installed with `npm ci --prefer-offline`.
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
  if (fs.existsSync(path.join(dir, 'dist', '.built'))) return { commit, dir };
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

/** The same lockfile: this checkout's packages serve (a link); else an install of its own. */
function installPackages(dir: string): void {
  const ours = path.join(PROJECT_ROOT, 'node_modules');
  const sameLock = fs.readFileSync(path.join(dir, 'package-lock.json'), 'utf8') === fs.readFileSync(path.join(PROJECT_ROOT, 'package-lock.json'), 'utf8');
  if (sameLock && fs.existsSync(ours)) {
    fs.symlinkSync(fs.realpathSync(ours), path.join(dir, 'node_modules'), 'dir');
    return;
  }
  run('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund'], dir);
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
