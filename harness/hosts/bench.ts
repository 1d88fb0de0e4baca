/**
 * What the test bed costs: `npx tsx harness/hosts/bench.ts [--rounds 5]` prints the time a bed of
 * three hosts takes to come up and go down, the kernel memory a namespace of it holds with nothing
 * running (from /proc/meminfo before and after a bed of 3 and of 30 hosts, so the per-namespace
 * slope is not lost in the noise of a shared machine), and each fault's inject and heal times.
 * Medians of the rounds; the machine's other work makes every figure an order of magnitude.
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { TestBed } from './TestBed.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string' } } });
const ROUNDS = Number(values.rounds ?? 5);
const BED = `bench${process.pid}`;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

function meminfoKiB(): Record<string, number> {
  const fields: Record<string, number> = {};
  for (const line of fs.readFileSync('/proc/meminfo', 'utf8').split('\n')) {
    const match = /^(\w+):\s+(\d+) kB$/.exec(line);
    if (match?.[1] && match[2]) fields[match[1]] = Number(match[2]);
  }
  return fields;
}

/** Kernel-side memory a bed holds: slab, per-cpu data and page tables, in KiB. */
function kernelKiB(): number {
  const info = meminfoKiB();
  return (info.Slab ?? 0) + (info.Percpu ?? 0) + (info.PageTables ?? 0) + (info.KernelStack ?? 0);
}

function usedKiB(): number {
  const info = meminfoKiB();
  return (info.MemTotal ?? 0) - (info.MemAvailable ?? 0);
}

const rows: [string, number[], number[]][] = [];
function record(name: string, inject: number, heal: number): void {
  let row = rows.find(([label]) => label === name);
  if (!row) {
    row = [name, [], []];
    rows.push(row);
  }
  row[1].push(inject);
  row[2].push(heal);
}

async function upDown(): Promise<void> {
  for (let round = 0; round < ROUNDS; round++) {
    const bed = new TestBed({ name: BED });
    const up = await bed.up();
    const began = performance.now();
    await bed.down();
    record('bed of 3 hosts: up | down', up, performance.now() - began);
  }
}

async function memory(hosts: number): Promise<{ kernel: number; used: number }> {
  const kernel: number[] = [];
  const used: number[] = [];
  for (let round = 0; round < Math.max(3, Math.ceil(ROUNDS / 2)); round++) {
    const bed = new TestBed({ name: BED, hosts: Array.from({ length: hosts }, (_, i) => `h${i + 1}`) });
    const [kernelBefore, usedBefore] = [kernelKiB(), usedKiB()];
    await bed.up();
    await new Promise((resolve) => setTimeout(resolve, 300));
    kernel.push((kernelKiB() - kernelBefore) / (hosts + 1));
    used.push((usedKiB() - usedBefore) / (hosts + 1));
    await bed.down();
  }
  return { kernel: median(kernel), used: median(used) };
}

async function faults(): Promise<void> {
  for (let round = 0; round < ROUNDS; round++) {
    const bed = new TestBed({ name: BED });
    await bed.up();
    for (const host of bed.hosts) bed.exec(host.name, ['sleep', '600'], { stdio: 'ignore' });
    await new Promise((resolve) => setTimeout(resolve, 200));
    for (const [name, inject] of [
      ['partition both ways', () => bed.partition('db')],
      ['one-way partition', () => bed.oneWay('db', 'users')],
      ['ZooKeeper port cut', () => bed.cutPorts('db', 'zookeeper')],
      ['RabbitMQ port cut', () => bed.cutPorts('db', 'rabbitmq')],
      ['loss 30%', () => bed.loss('db', 30)],
    ] as const) {
      const fault = await inject();
      record(name, fault.injectMs, await fault.heal());
    }
    const frozen = bed.freeze('rides');
    record('freeze | thaw (1 process)', frozen.injectMs, frozen.thaw());
    const crashed = await bed.crash('users');
    record('crash (1 process) | restart (nothing started)', crashed.injectMs, await crashed.restart());
    const path = await bed.delayedPath({ from: 'users', to: 'db', port: 7000, delayMs: 50 });
    record('delayed path: proxy start | stop', path.startMs, await path.stop());
    await bed.down();
  }
}

await upDown();
const small = await memory(3);
const large = await memory(30);
await faults();
process.stdout.write(`test bed figures, median of ${ROUNDS} rounds (ms):\n`);
for (const [name, inject, heal] of rows) process.stdout.write(`  ${name.padEnd(48)} ${median(inject).toFixed(1).padStart(8)} | ${median(heal).toFixed(1)}\n`);
process.stdout.write(
  `memory per namespace, nothing running (kernel: slab + percpu + page tables + stacks; used: MemTotal - MemAvailable):\n` +
    `  bed of 3 hosts (4 namespaces):   kernel ${small.kernel.toFixed(0)} KiB, used ${small.used.toFixed(0)} KiB\n` +
    `  bed of 30 hosts (31 namespaces): kernel ${large.kernel.toFixed(0)} KiB, used ${large.used.toFixed(0)} KiB\n`,
);
