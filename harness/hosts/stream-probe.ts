/**
 * What a RabbitMQ stream would give the sync log, measured on a bed of three hosts with a cluster
 * across them (bed-servers.ts) and amqplib as the product's client (stream-client.ts in a host):
 *   declare    which stream arguments the node takes, and where the leader lands (client-local
 *              through each node);
 *   bench      confirm latency and rate with 1 and 64 publishes in flight, stream against quorum
 *              and classic queues, one publisher on users' node, several rounds;
 *   consume    x-stream-offset ('first', 'last', 'next', a number, a timestamp), prefetch and
 *              acks, resuming after a closed channel, the same offsets on every node;
 *   kill       resuming on another node after the consumer's node is killed;
 *   retention  what a consumer asking for a truncated offset gets;
 *   faults     stream-probe-faults.ts: a follower's host cut one way, the leader's host
 *              partitioned then killed, the publisher's host cut off.
 * A JSON summary on stdout. The bed (`strm<pid>`) and its servers go however the probe ends.
 *
 *   npx tsx harness/hosts/stream-probe.ts [--rounds 3] [--phases declare,bench,consume,kill,retention,faults]
 */
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { startBedServers } from './bed-servers.ts';
import { TestBed } from './TestBed.ts';
import { deliveries, loadAverage, median, outcome, Probe, STREAM_ARGUMENTS, type ClientEvent } from './stream-probe-tools.ts';
import { runFaults } from './stream-probe-faults.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, phases: { type: 'string', default: 'declare,bench,consume,kill,retention,faults' } } });
const rounds = Number(values.rounds);
const phases = new Set((values.phases ?? '').split(','));
const report: Record<string, unknown> = {};
const note = (key: string, value: unknown) => {
  report[key] = value;
  process.stderr.write(`${new Date().toISOString()} ${key}: ${JSON.stringify(value)}\n`);
};

const declared = (events: ClientEvent[]) => {
  const item = events.find((event) => event.event === 'declared');
  return item ? (item.ok ? 'accepted' : `refused: ${String(item.error)}`) : `no answer (${outcome(events)})`;
};

async function declarePhase(probe: Probe): Promise<void> {
  const stream = { 'x-queue-type': 'stream' };
  const variants: Record<string, Record<string, unknown>> = {
    'x-queue-type stream alone': stream,
    'x-max-length-bytes 200 MB': { ...stream, 'x-max-length-bytes': 200_000_000 },
    'x-stream-max-segment-size-bytes 10 MB': { ...stream, 'x-stream-max-segment-size-bytes': 10_000_000 },
    'x-initial-cluster-size 3': { ...stream, 'x-initial-cluster-size': 3 },
    'x-initial-cluster-size 2': { ...stream, 'x-initial-cluster-size': 2 },
    'x-queue-leader-locator client-local': { ...stream, 'x-queue-leader-locator': 'client-local' },
    'x-queue-leader-locator balanced': { ...stream, 'x-queue-leader-locator': 'balanced' },
    'x-queue-leader-locator least-leaders': { ...stream, 'x-queue-leader-locator': 'least-leaders' },
    'x-max-age 1h': { ...stream, 'x-max-age': '1h' },
    'x-max-length 1000 (a count)': { ...stream, 'x-max-length': 1000 },
    'all five of the design': STREAM_ARGUMENTS,
  };
  const names = Object.keys(variants);
  const answers = await Promise.all(names.map((name, index) => probe.run('users', { task: 'declare', queue: `args-${index}`, arguments: variants[name] })));
  const redeclare = await probe.run('users', { task: 'declare', queue: `args-${names.length - 1}`, arguments: { ...STREAM_ARGUMENTS, 'x-max-length-bytes': 100_000_000 } });
  note('declare.arguments', { ...Object.fromEntries(names.map((name, index) => [name, declared(answers[index]!)])), 'the same name again, another x-max-length-bytes': declared(redeclare) });
  const placements = await probe.placement();
  note('declare.replicas', { 'x-initial-cluster-size 2': placements['args-4'], 'x-queue-type stream alone': placements['args-0'] });
  // The design's stream declared through each node, client-local; and once without a locator through rides.
  await Promise.all(probe.servers.hosts.map((host) => probe.run(host, { task: 'declare', queue: `log-${host}`, arguments: STREAM_ARGUMENTS })));
  await probe.run('rides', { task: 'declare', queue: 'log-nolocator-rides', arguments: { ...STREAM_ARGUMENTS, 'x-queue-leader-locator': undefined } });
  const after = await probe.placement();
  note('declare.leaders', Object.fromEntries(['log-users', 'log-rides', 'log-db', 'log-nolocator-rides'].map((name) => [name, after[name]])));
}

async function benchPhase(probe: Probe): Promise<void> {
  const queues: Record<string, { via: string; arguments: Record<string, unknown> }> = {
    'stream, leader on the publisher node': { via: 'users', arguments: STREAM_ARGUMENTS },
    'stream, leader on another node': { via: 'db', arguments: STREAM_ARGUMENTS },
    'quorum, leader on the publisher node': { via: 'users', arguments: { 'x-queue-type': 'quorum', 'x-queue-leader-locator': 'client-local' } },
    'classic, on the publisher node': { via: 'users', arguments: { 'x-queue-type': 'classic' } },
  };
  const kinds = Object.keys(queues);
  for (const [index, kind] of kinds.entries()) await probe.run(queues[kind]!.via, { task: 'declare', queue: `bench-${index}`, arguments: queues[kind]!.arguments });
  const placements = await probe.placement();
  note('bench.leaders', Object.fromEntries(kinds.map((kind, index) => [kind, placements[`bench-${index}`]?.leader])));
  const results: Record<string, { medianMs: number[]; p99Ms: number[]; perSecond: number[] }> = {};
  const loads: string[] = [];
  for (let round = 0; round < rounds; round++) {
    loads.push(loadAverage());
    // Each round in another order, so a slow moment of the machine does not always hit the same kind.
    const order = kinds.map((_, index) => (index + round) % kinds.length);
    for (const index of order) {
      for (const [inflight, count] of [
        [1, 300],
        [64, 3000],
      ] as const) {
        const events = await probe.run('users', { task: 'bench', queue: `bench-${index}`, inflight, count, size: 300 });
        const bench = events.find((event) => event.event === 'bench');
        const key = `${kinds[index]} | ${inflight} in flight`;
        results[key] ??= { medianMs: [], p99Ms: [], perSecond: [] };
        if (!bench) {
          process.stderr.write(`bench ${key}: ${outcome(events)}\n`);
          continue;
        }
        results[key].medianMs.push(Number(bench.medianMs));
        results[key].p99Ms.push(Number(bench.p99Ms));
        results[key].perSecond.push(Number(bench.perSecond));
      }
    }
  }
  loads.push(loadAverage());
  note(
    'bench',
    Object.fromEntries(
      Object.entries(results).map(([key, value]) => [key, { medianLatencyMs: median(value.medianMs), p99Ms: median(value.p99Ms), perSecond: median(value.perSecond), rounds: value }]),
    ),
  );
  note('bench.load', loads);
}

/** Whether `got` is exactly `expected`: the same bodies, the same order, no gap, nothing extra. */
function compare(got: readonly { offset: number; body: string }[], expected: readonly { offset: number; body: string }[]) {
  const mismatch = got.findIndex((item, index) => item.body !== expected[index]?.body || item.offset !== expected[index]?.offset);
  return {
    got: got.length,
    expected: expected.length,
    identical: mismatch < 0 && got.length === expected.length,
    firstMismatch: mismatch < 0 ? undefined : { at: mismatch, got: got[mismatch], expected: expected[mismatch] },
  };
}

async function consumePhase(probe: Probe): Promise<void> {
  const queue = 'log-users';
  await probe.run('users', { task: 'declare', queue, arguments: STREAM_ARGUMENTS });
  await probe.run('users', { task: 'bench', queue, inflight: 64, count: 500, tag: 'c1' });
  // Timestamps in x-stream-offset are whole seconds: a gap of over a second between the halves.
  await sleep(1500);
  const between = Date.now();
  await sleep(1500);
  await probe.run('users', { task: 'bench', queue, inflight: 64, count: 500, tag: 'c2' });
  const base = { task: 'consume', queue, idleMs: 3000 };
  const first = await probe.run('users', { ...base, offset: 'first', prefetch: 100 });
  const reference = deliveries(first);
  const summary = (events: ClientEvent[]) => {
    const got = deliveries(events);
    return { received: got.length, first: got[0], last: got.at(-1), end: outcome(events) };
  };
  const contiguous = reference.every((item, index) => index === 0 || item.offset === reference[index - 1]!.offset + 1);
  note('consume.first', { ...summary(first), offsetsContiguous: contiguous, offsetHeaderType: typeof first.find((event) => event.event === 'delivery')?.offset });
  note('consume.noPrefetch', summary(await probe.run('users', { ...base, offset: 'first', prefetch: null })));
  note('consume.noAck', summary(await probe.run('users', { ...base, offset: 'first', prefetch: 10, noAck: true })));
  note('consume.unacked (prefetch 10, no acks)', summary(await probe.run('users', { ...base, offset: 'first', prefetch: 10, hold: true })));
  note('consume.offset 500', summary(await probe.run('users', { ...base, offset: 500, prefetch: 100 })));
  note('consume.offset 123', summary(await probe.run('users', { ...base, offset: 123, prefetch: 100 })));
  note('consume.last', summary(await probe.run('users', { ...base, offset: 'last', prefetch: 100 })));
  note('consume.timestamp between the halves', summary(await probe.run('users', { ...base, offset: { ts: between }, prefetch: 100 })));
  note('consume.offset beyond the end', summary(await probe.run('users', { ...base, offset: 5000, prefetch: 100 })));
  // 'next' sees only what comes after it attached.
  const next = probe.start('users', { ...base, offset: 'next', prefetch: 100, idleMs: 6000 });
  await sleep(2500);
  await probe.run('users', { task: 'bench', queue, inflight: 1, count: 10, tag: 'n' });
  note('consume.next', summary(await next.exited));
  const all = deliveries(await probe.run('users', { ...base, offset: 'first', prefetch: 100 }));

  // Resuming after a closed channel: 400 read, the connection closed, then from the 401st.
  const part = deliveries(await probe.run('users', { ...base, offset: 'first', prefetch: 50, max: 400 }));
  const resumed = deliveries(await probe.run('users', { ...base, offset: (part.at(-1)?.offset ?? 0) + 1, prefetch: 50 }));
  note('consume.resume after a closed connection', compare([...part, ...resumed], all));

  // The same offsets from every node's replica.
  const views = await Promise.all(probe.servers.hosts.map(async (host) => [host, compare(deliveries(await probe.run(host, { ...base, offset: 'first', prefetch: 100 })), all)] as const));
  note('consume.same offsets on every node (against users)', Object.fromEntries(views));
}

async function killPhase(probe: Probe): Promise<void> {
  const queue = 'log-users';
  await probe.run('users', { task: 'declare', queue, arguments: STREAM_ARGUMENTS });
  const publisher = probe.start('users', { task: 'publish', queue, inflight: 1, tag: 'k' });
  const consumer = probe.start('rides', { task: 'consume', queue, offset: 'first', prefetch: 50 });
  while (deliveries(consumer.events).length < 1500 && consumer.child.exitCode === null) await sleep(100);
  const killedAt = Date.now();
  await probe.servers.killRabbit('rides');
  const before = deliveries(await consumer.exited);
  const closedAfterMs = (consumer.events.find((event) => event.event === 'closed')?.at ?? NaN) - killedAt;
  const resumeFrom = (before.at(-1)?.offset ?? -1) + 1;
  const resumedTask = probe.start('rides', { task: 'consume', queue, offset: resumeFrom, prefetch: 50, idleMs: 5000 }, 'db');
  await sleep(4000);
  await publisher.stop();
  const after = deliveries(await resumedTask.exited);
  const all = deliveries(await probe.run('db', { task: 'consume', queue, offset: 'first', prefetch: 100, idleMs: 3000 }));
  note('kill.resume on db after the consumer node (rides) was killed', {
    readBeforeKill: before.length,
    consumerSawCloseAfterMs: closedAfterMs,
    resumedFrom: resumeFrom,
    ...compare([...before, ...after], all),
    resumeEnd: outcome(resumedTask.events),
  });
  const restartBegan = Date.now();
  await probe.servers.restartRabbit('rides');
  const rejoined = await probe.allRunning();
  note('kill.rides restarted', { bootMs: Date.now() - restartBegan, rejoinedMs: rejoined, replicasOnlineMs: await probe.replicasOnline(queue), placement: (await probe.placement())[queue] });
}

async function retentionPhase(probe: Probe): Promise<void> {
  const queue = 'trunc';
  const args = { ...STREAM_ARGUMENTS, 'x-max-length-bytes': 100_000, 'x-stream-max-segment-size-bytes': 20_000 };
  note('retention.declare', declared(await probe.run('users', { task: 'declare', queue, arguments: args })));
  for (let batch = 0; batch < 4; batch++) await probe.run('users', { task: 'bench', queue, inflight: 64, count: 500, size: 300, tag: `t${batch}` });
  const base = { task: 'consume', queue, idleMs: 3000, prefetch: 100 };
  const views = Object.fromEntries(
    await Promise.all(
      probe.servers.hosts.map(async (host) => {
        const got = deliveries(await probe.run(host, { ...base, offset: 'first' }));
        return [host, { received: got.length, first: got[0], last: got.at(-1) }] as const;
      }),
    ),
  );
  note('retention.first on each node (2000 of 300 B published)', views);
  const first = (views.users as { first?: { offset: number } }).first?.offset ?? 0;
  const ask = async (offset: number) => {
    const got = deliveries(await probe.run('users', { ...base, offset }));
    return { asked: offset, received: got.length, first: got[0] };
  };
  note('retention.asking for a truncated offset', [await ask(0), await ask(Math.max(0, first - 1))]);
}

const bed = new TestBed({ name: `strm${process.pid % 100_000}`, subnet: '10.83.0.0/24' });
await bed.up();
try {
  const servers = await startBedServers(bed, { zookeeper: false, netTicktimeSeconds: 10 });
  const probe = new Probe(bed, servers);
  note('setup', { rabbitmq: (await servers.rabbitCli('users', 'rabbitmqctl', ['version'])).trim(), formedMs: Math.round(servers.formedMs.rabbitmq ?? 0), load: loadAverage() });
  if (phases.has('declare')) await declarePhase(probe);
  if (phases.has('bench')) await benchPhase(probe);
  if (phases.has('consume')) await consumePhase(probe);
  if (phases.has('kill')) await killPhase(probe);
  if (phases.has('retention')) await retentionPhase(probe);
  if (phases.has('faults')) await runFaults(probe, note);
  note('end', { load: loadAverage() });
} catch (error) {
  note('failed', (error as Error).stack ?? String(error));
  process.exitCode = 1;
} finally {
  await bed.down();
  console.log(JSON.stringify(report, null, 1));
}
