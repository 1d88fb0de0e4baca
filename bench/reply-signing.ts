/**
 * What signing every reply costs: the worker seals each db/read reply and the orchestrator opens
 * it (one HMAC-SHA256 each, src/dbaas/transport/signing.ts). There is no setting that turns reply
 * signing off, so the cost is measured directly: the CPU time to seal and open a typical route
 * search reply, set against the CPU the whole system has per read at the measured rate.
 */
import os from 'node:os';
import { encode, PROTOCOL_VERSION } from '../src/dbaas/protocol/messages.ts';
import { MessageSigner } from '../src/dbaas/transport/signing.ts';

export interface ReplySigningCost {
  bytes: number;
  microsPerReply: number;
}

/** Seals and opens `iterations` replies of `rows` rides each; the median of five runs. */
export function measureReplySigning(rows = 10, iterations = 20_000): ReplySigningCost {
  const slave = new MessageSigner('bench-cluster-key-not-a-secret', { role: 'slave', id: 'w-bench' });
  const result = {
    rows: Array.from({ length: rows }, (_, index) => ({ rideId: index + 1, created_by: 'someone', timestamp: '01-01-2021:10-00-00', source: 3, destination: 7 })),
    seq: 12345,
    worker: 'w-bench',
  };
  const body = encode({ v: PROTOCOL_VERSION, ok: true, result });
  const to = 'amq.gen-benchreplyqueue';
  const runs: number[] = [];
  for (let run = 0; run < 5; run += 1) {
    const started = process.cpuUsage();
    for (let index = 0; index < iterations; index += 1) {
      const properties = slave.seal({ to, correlationId: String(index), expiresAt: Date.now() + 30_000 }, body);
      slave.open({ content: body, properties: { ...properties, correlationId: String(index) } as never, fields: { exchange: '', routingKey: to } as never });
    }
    const used = process.cpuUsage(started);
    runs.push((used.user + used.system) / iterations);
  }
  runs.sort((a, b) => a - b);
  return { bytes: body.length, microsPerReply: runs[2] as number };
}

/** One line: the cost per reply, and its share of the machine's CPU at `readsPerSecond`. */
export function replySigningLine(cost: ReplySigningCost, readsPerSecond: number): string {
  const cores = os.availableParallelism();
  const share = (cost.microsPerReply * readsPerSecond) / (cores * 1_000_000);
  return `reply signing: ${cost.microsPerReply.toFixed(1)} µs of CPU to seal and open one db/read reply (${cost.bytes} bytes); at ${readsPerSecond.toFixed(0)} reads/s that is ${(share * 100).toFixed(2)}% of ${cores} cores, as a ratio of the signed read's throughput to an unsigned one's ≈ ${(100 / (1 + share)).toFixed(1)}% (target: under 5% cost)`;
}
