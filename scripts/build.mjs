#!/usr/bin/env node
// `npm run build` (and the first step of `npm start`): compiles src/ to dist/ with the project's
// tsc, unless dist/ was built after every source and build setting last changed. tsc builds into
// a folder of its own that then replaces dist/ in one rename, so processes of a running system
// never see a half-written dist/. Type errors are printed but do not stop a build that emitted
// (tsx runs such code the same way); `npm run typecheck` is the gate for them.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { copyAssets } from './copy-assets.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = path.join(root, 'dist');
const stamp = path.join(dist, '.built');
const inputs = ['src', 'package.json', 'tsconfig.json', 'tsconfig.build.json', 'scripts/build.mjs', 'scripts/copy-assets.mjs'].map((name) => path.join(root, name));

function newestChange(file) {
  const stat = fs.statSync(file);
  if (!stat.isDirectory()) return stat.mtimeMs;
  // A folder's own mtime moves when a file in it is added, removed or renamed.
  return fs.readdirSync(file).reduce((newest, name) => Math.max(newest, newestChange(path.join(file, name))), stat.mtimeMs);
}

function builtAt() {
  try {
    return fs.statSync(stamp).mtimeMs;
  } catch {
    return -1;
  }
}

const force = process.argv.includes('--force');
if (!force && builtAt() >= Math.max(...inputs.map(newestChange))) process.exit(0);

const started = Date.now();
const out = path.join(root, `.dist-${process.pid}`);
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const result = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json'), '--outDir', out], { stdio: 'inherit' });
// tsc: 0 = clean, 2 = emitted with errors; anything else emitted nothing usable.
if (result.status !== 0 && result.status !== 2) {
  fs.rmSync(out, { recursive: true, force: true });
  process.stderr.write(`build failed (tsc exit ${result.status ?? result.signal})\n`);
  process.exit(1);
}
if (result.status === 2) process.stderr.write('build: tsc reported type errors (above); the emitted JavaScript is used\n');
// Files tsc does not emit (the operator console's page) go beside the compiled modules.
copyAssets(path.join(root, 'src'), out);
// The worker also as one file: a replacement worker is started often and while the cluster
// waits for it, and resolving and compiling ~200 modules one by one was most of its start-up.
// better-sqlite3 stays outside (a native addon); CommonJS packages get a real require.
const bundled = await build({
  entryPoints: [path.join(root, 'src/dbaas/worker/main.ts')],
  outfile: path.join(out, 'dbaas/worker/main.bundle.js'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['better-sqlite3'],
  banner: { js: "import { createRequire as createRequireForBundle } from 'node:module'; const require = createRequireForBundle(import.meta.url);" },
  sourcemap: true,
  logLevel: 'warning',
}).then(
  () => true,
  () => false, // esbuild has printed why
);
if (!bundled) {
  fs.rmSync(out, { recursive: true, force: true });
  process.stderr.write('build failed: the worker bundle could not be made\n');
  process.exit(1);
}
fs.writeFileSync(path.join(out, '.built'), `${new Date(started).toISOString()}\n`);
// The stamp carries the start time: a source saved during the build makes the next start rebuild.
fs.utimesSync(path.join(out, '.built'), started / 1000, started / 1000);
const old = path.join(root, `.dist-old-${process.pid}`);
if (fs.existsSync(dist)) fs.renameSync(dist, old);
fs.renameSync(out, dist);
fs.rmSync(old, { recursive: true, force: true });
process.stderr.write(`built dist/ in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
