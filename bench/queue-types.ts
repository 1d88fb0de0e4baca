/**
 * The cluster's queues as classic or quorum queues, measured side by side in one run: db/read (a
 * user by name) and db/write (one ride) at 1 and 64 in flight, with the broker's CPU per request
 * and its resident memory. Each variant is a checkout of the project (the version before quorum
 * queues, this one, a variation of it), run as shipped (compiled dist/) against a private RabbitMQ
 * node of its own, so the broker's figures are that variant's alone; one private ZooKeeper serves
 * them all. Every round measures every variant, in an order that rotates from round to round, and
 * the ratios are taken within a round.
 *
 *   npx tsx bench/queue-types.ts -- --variant classic=/path/to/previous --variant quorum=. \
 *     [--variant name=/path ...] [--rounds 3] [--requests 5000] [--serial 1000]
 *
 * The first variant is the one the others are compared with.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureRabbitMq, ensureZooKeeper, type ServerHandle } from '../src/infra/servers.ts';
import { createLogger } from '../src/shared/logger.ts';
import { BENCH_USER, findBroker, ourProcessGroups, rideMaker, seedBenchData } from './database.ts';
import { runLoadWithCpu, type CpuLoadResult } from './lib/cpu.ts';
import { loadClient, median } from './lib/load.ts';
import { residentMegabytes, startBenchSystem, type BenchSystem } from './lib/system.ts';

interface Variant {
  name: string;
  root: string;
  rabbit?: ServerHandle;
  system?: BenchSystem;
  brokerPid?: number;
  /** The broker's resident memory, MB: once seeded and idle, then after each round. */
  idleRssMb?: number;
  rssAfterRoundMb: number[];
}

interface Row extends CpuLoadResult {
  variant: string;
  round: number;
}

const WORKLOADS = ['db/read point', 'db/write insert'] as const;

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
}

function variantsFromArguments(): Variant[] {
  const variants: Variant[] = [];
  process.argv.forEach((argument, index) => {
    if (argument !== '--variant') return;
    const [name, root] = (process.argv[index + 1] ?? '').split('=');
    if (!name || !root) throw new Error('--variant takes name=/path/to/a/checkout');
    variants.push({ name, root: path.resolve(root), rssAfterRoundMb: [] });
  });
  if (variants.length < 2) throw new Error('give at least two --variant name=/path');
  return variants;
}

/** Requests per row: `requests` at 64 in flight, `serial` (one at a time is slow) at 1. */
interface Sizes {
  requests: number;
  serial: number;
}

async function measureVariant(variant: Variant, round: number, sizes: Sizes): Promise<Row[]> {
  const system = variant.system as BenchSystem;
  const client = loadClient(system.orchestratorUrl);
  const rows: Row[] = [];
  try {
    const groups = { ...(await ourProcessGroups(client, { pids: [variant.brokerPid as number], description: '' })) };
    const ride = rideMaker(1_900_000_000 + round * 1_000_000);
    const tasks: Record<(typeof WORKLOADS)[number], () => Promise<boolean>> = {
      'db/read point': () =>
        client.post('/api/v1/db/read', { table: 'users', where: { username: BENCH_USER.username } }).then((r) => r.status === 200 && (r.body as { rows: unknown[] }).rows.length === 1),
      'db/write insert': () => client.post('/api/v1/db/write', { op: 'insert', table: 'rides', values: ride() }).then((r) => r.status === 200),
    };
    for (const concurrency of [1, 64]) {
      for (const label of WORKLOADS) {
        const count = concurrency === 1 ? sizes.serial : sizes.requests;
        const result = await runLoadWithCpu({ label, concurrency, requests: count, task: tasks[label] }, groups);
        rows.push({ ...result, variant: variant.name, round });
      }
    }
  } finally {
    await client.close();
  }
  variant.rssAfterRoundMb.push(residentMegabytes(variant.brokerPid as number));
  return rows;
}

function rowOf(rows: Row[], variant: string, round: number, label: string, concurrency: number): Row | undefined {
  return rows.find((row) => row.variant === variant && row.round === round && row.label === label && row.concurrency === concurrency);
}

function report(variants: Variant[], rows: Row[], rounds: number, sizes: Sizes): string {
  const base = variants[0] as Variant;
  const lines = [
    `## Queue types (${new Date().toISOString()}; ${sizes.requests} requests per row at 64 in flight, ${sizes.serial} at 1; median of ${rounds} rounds; a private RabbitMQ node per variant)`,
    '',
    `| variant | workload | in flight | rate/s (median) | p50 ms | p99 ms | broker CPU µs/request | vs ${base.name}, per round |`,
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const concurrency of [1, 64]) {
    for (const label of WORKLOADS) {
      for (const variant of variants) {
        const mine = Array.from({ length: rounds }, (_, round) => rowOf(rows, variant.name, round, label, concurrency)).filter((row): row is Row => row !== undefined);
        const ratios = Array.from({ length: rounds }, (_, round) => {
          const theirs = rowOf(rows, base.name, round, label, concurrency);
          const ours = rowOf(rows, variant.name, round, label, concurrency);
          return theirs && ours ? ours.rate / theirs.rate : Number.NaN;
        });
        const ratioText = variant === base ? '' : `${ratios.map((ratio) => `${ratio.toFixed(2)}×`).join(', ')} (median ${median(ratios).toFixed(2)}×)`;
        const errors = mine.reduce((sum, row) => sum + row.errors, 0);
        lines.push(
          `| ${variant.name} | ${label}${errors ? ` (${errors} errors)` : ''} | ${concurrency} | ${median(mine.map((row) => row.rate)).toFixed(0)} | ${median(mine.map((row) => row.p50Ms)).toFixed(2)} | ${median(mine.map((row) => row.p99Ms)).toFixed(2)} | ${(median(mine.map((row) => row.cpuMsPerRequest.rabbitmq ?? Number.NaN)) * 1000).toFixed(0)} | ${ratioText} |`,
        );
      }
    }
  }
  lines.push('', '| variant | broker resident memory, seeded and idle | after each round |', '| --- | --- | --- |');
  for (const variant of variants) {
    lines.push(`| ${variant.name} | ${variant.idleRssMb?.toFixed(0)} MB | ${variant.rssAfterRoundMb.map((mb) => `${mb.toFixed(0)} MB`).join(', ')} |`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const variants = variantsFromArguments();
  const rounds = option('rounds', 3);
  const sizes: Sizes = { requests: option('requests', 5000), serial: option('serial', 1000) };
  const logger = createLogger('bench', 'warn');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rideshare-queue-types-'));
  const servers: ServerHandle[] = [];
  try {
    const zookeeper = await ensureZooKeeper({ dataDir, logger, alwaysPrivate: true });
    servers.push(zookeeper);
    for (const variant of variants) {
      variant.rabbit = await ensureRabbitMq({ dataDir: path.join(dataDir, variant.name), logger, alwaysPrivate: true });
      servers.push(variant.rabbit);
      variant.system = await startBenchSystem({ withServices: false, root: variant.root, amqpUrl: variant.rabbit.address, zkConnect: zookeeper.address });
      variant.brokerPid = findBroker(variant.rabbit.address).pids[0];
      if (variant.brokerPid === undefined) throw new Error(`no broker process found for ${variant.name}`);
      await seedBenchData(variant.system);
      variant.idleRssMb = residentMegabytes(variant.brokerPid);
    }
    const rows: Row[] = [];
    for (let round = 0; round < rounds; round += 1) {
      const order = variants.map((_, index) => variants[(index + round) % variants.length] as Variant);
      for (const variant of order) {
        rows.push(...(await measureVariant(variant, round, sizes)));
        process.stderr.write(`round ${round + 1}/${rounds}: ${variant.name} measured\n`);
      }
    }
    process.stdout.write(`\n${report(variants, rows, rounds, sizes)}\n`);
  } finally {
    for (const variant of [...variants].reverse()) await variant.system?.stop().catch(() => undefined);
    for (const server of [...servers].reverse()) await server.stop().catch(() => undefined);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
