#!/usr/bin/env node
// `npm test`: the suite in two lanes at once, each a `vitest run` of its own with its own private
// RabbitMQ and ZooKeeper (harness/global-setup.ts). The "apart" lane (vitest.config.ts) holds the
// files that mostly wait (slow clients cut off by timeouts, systems stopped by signals, scaling
// windows, sessions and deadlines) and the two longest files of the test bed of hosts, which use no
// server of the other lane; the other lane runs the rest, one file after another as before. Two
// lanes first took 841 s against 1,021 s in one; `npx vitest run` still runs every file in one lane.
//
// Arguments go to both lanes (a file filter selects in each, and a lane left with no file passes).
// `--outputFile=F` (with `--reporter=json`): each lane writes its own report, merged into F. The
// second lane's output is kept and printed when it ends, so neither lane's lines cut into the
// other's. A signal to this process goes to both lanes, which stop their servers; it exits once
// both have.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const LANES = [
  { name: 'main', projects: ['one-process', 'own-process'], live: true },
  { name: 'apart', projects: ['apart'], live: false },
];

function splitOutputFile(argv) {
  const rest = [];
  let outputFile;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg.startsWith('--outputFile=')) outputFile = arg.slice('--outputFile='.length);
    else if (arg === '--outputFile') outputFile = argv[++i];
    else rest.push(arg);
  }
  return { rest, outputFile };
}

const { rest, outputFile } = splitOutputFile(process.argv.slice(2));

// Built once here: both lanes start systems from dist/, and two builds at once would race.
const built = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'inherit' });
if (built.status !== 0) process.exit(built.status ?? 1);

const vitest = path.join(root, 'node_modules', 'vitest', 'vitest.mjs');
const children = LANES.map((lane) => {
  const report = outputFile ? `${outputFile}.${lane.name}` : undefined;
  if (report) fs.rmSync(report, { force: true });
  const args = [vitest, 'run', ...lane.projects.flatMap((project) => ['--project', project]), '--passWithNoTests', ...rest, ...(report ? [`--outputFile=${report}`] : [])];
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', lane.live ? 'inherit' : 'pipe', lane.live ? 'inherit' : 'pipe'] });
  const kept = [];
  if (!lane.live) {
    child.stdout.on('data', (chunk) => kept.push(chunk));
    child.stderr.on('data', (chunk) => kept.push(chunk));
  }
  const ended = new Promise((resolve) => child.once('close', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
  return { lane, child, kept, ended, report };
});

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    for (const { child } of children) if (child.exitCode === null) child.kill(signal);
  });
}

const codes = [];
for (const running of children) {
  codes.push(await running.ended);
  if (!running.lane.live) {
    process.stdout.write(`\n──── lane "${running.lane.name}" (${running.lane.projects.join(', ')}) ────\n`);
    process.stdout.write(Buffer.concat(running.kept));
  }
}

if (outputFile)
  mergeReports(
    children.map((running) => running.report),
    outputFile,
  );
const failed = codes.some((code) => code !== 0);
process.stdout.write(`\nlanes: ${children.map((running, index) => `${running.lane.name} ${codes[index] === 0 ? 'passed' : `failed (exit ${codes[index]})`}`).join(', ')}\n`);
process.exit(failed ? 1 : 0);

/** The lanes' JSON reports as one: counts added, files listed together. A lane without a report adds nothing (its exit code says it failed). */
function mergeReports(reports, target) {
  const present = [];
  for (const file of reports) if (fs.existsSync(file)) present.push(JSON.parse(fs.readFileSync(file, 'utf8')));
  if (present.length === 0) return;
  const merged = { ...present[0], testResults: [] };
  for (const key of Object.keys(merged)) if (key.startsWith('num')) merged[key] = 0;
  for (const report of present) {
    for (const key of Object.keys(report)) if (key.startsWith('num') && typeof report[key] === 'number') merged[key] += report[key];
    merged.testResults.push(...report.testResults);
    merged.startTime = Math.min(merged.startTime, report.startTime);
    merged.success = merged.success && report.success;
  }
  merged.success = present.every((report) => report.success) && present.length === reports.length;
  fs.mkdirSync(path.dirname(path.resolve(target)), { recursive: true });
  fs.writeFileSync(target, JSON.stringify(merged));
  for (const file of reports) fs.rmSync(file, { force: true });
}
