/**
 * The faults of stream-probe.ts, each with a publisher in users on users' node (one publish at a
 * time, persistent, with confirms) and, where it says, a consumer from 'next' on another node:
 *   follower one way   rides' packets to its peers dropped (rides holds a replica);
 *   leader partition   the leader's host (db) cut off both ways, then healed;
 *   leader kill        the leader's node (db) SIGKILLed, then started again;
 *   publisher cut off  users (the publisher's host, holding the leader) cut off both ways: the
 *                      confirms it still gets, and whether what it published shows on db after
 *                      the heal.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { deliveries, loadAverage, longestGap, type Probe, STREAM_ARGUMENTS, type ClientEvent, type Placement, type RunningTask } from './stream-probe-tools.ts';

type Note = (key: string, value: unknown) => void;

const confirmTimes = (events: readonly ClientEvent[]) => events.filter((event) => event.event === 'confirm').map((event) => event.at);

async function steadyPublisher(probe: Probe, queue: string, tag: string, inflight = 1): Promise<RunningTask> {
  const publisher = probe.start('users', { task: 'publish', queue, inflight, tag });
  const began = Date.now();
  // Confirms flowing for 3 s: the connection is up and the queue answers.
  while (Date.now() - began < 60_000 && publisher.child.exitCode === null) {
    const times = confirmTimes(publisher.events);
    if (times.length > 0 && Date.now() - times[0]! > 3000) break;
    await sleep(200);
  }
  return publisher;
}

/** Whether a consumer's deliveries are one run of offsets and of its publisher's sequence numbers. */
function continuity(events: readonly ClientEvent[], tag: string) {
  const got = deliveries(events);
  const holes = got.filter((item, index) => index > 0 && item.offset !== got[index - 1]!.offset + 1).length;
  const seqs = got.filter((item) => item.body.startsWith(`${tag}:`)).map((item) => Number(item.body.split(':')[1]));
  const outOfOrder = seqs.filter((seq, index) => index > 0 && seq !== seqs[index - 1]! + 1).length;
  return { received: got.length, offsetHoles: holes, sequenceBreaks: outOfOrder };
}

/** Until confirms have flowed for 5 s after the longest gap since `from`, or `windowMs` passed. */
async function watch(publisher: RunningTask, from: number, windowMs: number): Promise<void> {
  while (Date.now() - from < windowMs) {
    await sleep(500);
    const times = confirmTimes(publisher.events);
    const gap = longestGap(times, from);
    const resumedAt = from + gap.startedAfterMs + gap.ms;
    if (times.some((time) => time > resumedAt + 5000) && Date.now() - from > 15_000) return;
  }
}

async function healed(probe: Probe, queue: string) {
  const rejoinedMs = await probe.allRunning();
  const replicasOnlineMs = await probe.replicasOnline(queue);
  return { rejoinedMs, replicasOnlineMs, placement: (await probe.placement())[queue] };
}

function stallOf(publisher: RunningTask, from: number) {
  const times = confirmTimes(publisher.events);
  const gap = longestGap(times, from, Math.max(from, times.at(-1) ?? from));
  return {
    longestConfirmGapMs: gap.ms,
    gapStartedAfterCutMs: gap.startedAfterMs,
    confirmsPerSecondBefore: times.filter((time) => time < from && time >= from - 3000).length / 3,
    nacks: publisher.events.filter((event) => event.event === 'nack').length,
    publisherClosed: publisher.events.some((event) => event.event === 'closed'),
  };
}

async function followerOneWay(probe: Probe, note: Note): Promise<void> {
  const queue = 'log-db';
  await probe.run('db', { task: 'declare', queue, arguments: STREAM_ARGUMENTS });
  const placement = (await probe.placement())[queue];
  const publisher = await steadyPublisher(probe, queue, 'f');
  const cut = await probe.bed.partition('rides', { direction: 'outgoing' });
  const cutAt = Date.now();
  await sleep(30_000);
  const stall = stallOf(publisher, cutAt);
  await cut.heal();
  await publisher.stop();
  note('faults.follower host (rides) cut one way (its packets out dropped), 30 s', { placementBefore: placement, load: loadAverage(), ...stall, afterHeal: await healed(probe, queue) });
}

async function leaderLost(probe: Probe, note: Note, how: 'partition' | 'kill'): Promise<void> {
  const queue = how === 'partition' ? 'log-db' : 'log-db-kill';
  await probe.run('db', { task: 'declare', queue, arguments: STREAM_ARGUMENTS });
  const before = (await probe.placement())[queue];
  const tag = how === 'partition' ? 'lp' : 'lk';
  const publisher = await steadyPublisher(probe, queue, tag);
  const consumer = probe.start('rides', { task: 'consume', queue, offset: 'next', prefetch: 100 });
  await sleep(2000);
  const cutAt = Date.now();
  const cut = how === 'partition' ? await probe.bed.partition('db') : undefined;
  if (how === 'kill') await probe.servers.killRabbit('db');
  await watch(publisher, cutAt, 90_000);
  const stall = stallOf(publisher, cutAt);
  const deliveredAt = consumer.events.filter((event) => event.event === 'delivery').map((event) => event.at);
  const consumerGap = longestGap(deliveredAt, cutAt, Math.max(cutAt, deliveredAt.at(-1) ?? cutAt));
  const during = (await probe.placement('users').catch((): Record<string, Placement> => ({})))[queue];
  await publisher.stop();
  await sleep(2000);
  await consumer.stop();
  if (cut) await cut.heal();
  if (how === 'kill') await probe.servers.restartRabbit('db');
  note(`faults.leader host (db) ${how === 'partition' ? 'partitioned both ways' : 'RabbitMQ SIGKILLed'}`, {
    placementBefore: before,
    placementDuring: during,
    load: loadAverage(),
    ...stall,
    consumerOnRides: { ...continuity(consumer.events, tag), longestGapMs: consumerGap.ms, closed: consumer.events.some((event) => event.event === 'closed') },
    afterHeal: await healed(probe, queue),
  });
}

async function publisherCutOff(probe: Probe, note: Note): Promise<void> {
  const queue = 'log-cut';
  await probe.run('users', { task: 'declare', queue, arguments: STREAM_ARGUMENTS });
  const before = (await probe.placement())[queue];
  const one = await steadyPublisher(probe, queue, 'a1', 1);
  const many = await steadyPublisher(probe, queue, 'a64', 64);
  const watcher = probe.start('db', { task: 'consume', queue, offset: 'next', prefetch: 100 });
  await sleep(2000);
  const cut = await probe.bed.partition('users');
  const cutAt = Date.now();
  const began = Date.now();
  while (Date.now() - began < 45_000 && !(one.child.exitCode !== null && many.child.exitCode !== null)) await sleep(500);
  await Promise.all([one.stop(), many.stop()]);
  const seenOnDbDuringCut = deliveries(watcher.events.filter((event) => event.at > cutAt + 1000)).length;
  await watcher.stop();
  await cut.heal();
  const afterHeal = await healed(probe, queue);
  const all = deliveries(await probe.run('db', { task: 'consume', queue, offset: 'first', prefetch: 100, idleMs: 4000 }));
  const side = (publisher: RunningTask, tag: string) => {
    const confirms = publisher.events.filter((event) => event.event === 'confirm');
    const lastBefore = Math.max(-1, ...confirms.filter((event) => event.at <= cutAt).map((event) => Number(event.seq)));
    const afterCut = confirms.filter((event) => event.at > cutAt);
    const visible = all.filter((item) => item.body.startsWith(`${tag}:`)).map((item) => Number(item.body.split(':')[1]));
    const confirmedAfterCut = new Set(afterCut.map((event) => Number(event.seq)));
    return {
      confirmsAfterCut: afterCut.length,
      lastConfirmAfterCutMs: afterCut.length > 0 ? afterCut.at(-1)!.at - cutAt : undefined,
      publisherClosedAfterMs: (publisher.events.find((event) => event.event === 'closed')?.at ?? NaN) - cutAt,
      lastSeqConfirmedBeforeCut: lastBefore,
      highestSeqConfirmedAfterCut: Math.max(-1, ...afterCut.map((event) => Number(event.seq))),
      visibleOnDbAfterHeal: { entries: visible.length, highestSeq: Math.max(-1, ...visible), confirmedAfterCutAndVisible: visible.filter((seq) => confirmedAfterCut.has(seq)).length },
    };
  };
  note('faults.publisher host (users, holding the leader) cut off both ways', {
    placementBefore: before,
    load: loadAverage(),
    oneInFlight: side(one, 'a1'),
    sixtyFourInFlight: side(many, 'a64'),
    deliveredOnDbDuringCut: seenOnDbDuringCut,
    afterHeal,
  });
}

export async function runFaults(probe: Probe, note: Note): Promise<void> {
  await followerOneWay(probe, note);
  await leaderLost(probe, note, 'partition');
  await leaderLost(probe, note, 'kill');
  await publisherCutOff(probe, note);
}
