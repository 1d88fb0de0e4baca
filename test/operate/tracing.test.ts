import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDatabaseService, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { get, post, request } from '../../harness/http.ts';
import { until } from '../../harness/replicas.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { startStack, type Stack } from '../../harness/services/stack.ts';

/** Every line a logger wrote, parsed. */
class LogLines extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') this.lines.push(JSON.parse(line) as Record<string, unknown>);
    done();
  }
  text(): string {
    return this.lines.map((line) => JSON.stringify(line)).join('\n');
  }
}

/** The value of the first sample of `name` carrying every label given, whatever the label order. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('one request id from the gateway to the master and the replicas; access logs; metrics', () => {
  let database: DatabaseServiceHandle;
  let stack: Stack;
  const orchestratorLogs = new LogLines();
  const serviceLogs = new LogLines();
  const password = 'f'.repeat(40);

  beforeAll(async () => {
    database = await startDatabaseService({ slaves: 1, env: { LOG_LEVEL: 'info' }, logger: createLogger('orchestrator', 'info', orchestratorLogs) });
    stack = await startStack({ orchestratorUrl: database.orchestratorUrl, logger: createLogger('services', 'info', serviceLogs) });
  });
  afterAll(async () => {
    await stack?.close();
    await database?.stop();
  });

  /** The lines the workers wrote (each worker process logs to a file of its own). */
  const workerLines = (): Record<string, unknown>[] => {
    const dir = path.join(database.dataDir, 'logs');
    return fs
      .readdirSync(dir)
      .flatMap((file) => fs.readFileSync(path.join(dir, file), 'utf8').split('\n'))
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  };

  it('follows a write by the id the client gave, on every hop, and keeps the password out of every log', async () => {
    const id = `trace-${Date.now()}`;
    const created = await request('PUT', `${stack.gatewayUrl}/api/v1/users`, { json: { username: 'traced', password }, headers: { 'x-request-id': id } });
    expect(created.status).toBe(201);
    expect(created.headers['x-request-id']).toBe(id);

    const hop = (lines: Record<string, unknown>[], component: string) => lines.filter((line) => line.reqId === id && line.msg === 'request' && line.component === component);
    // The gateway and the users instance log the public request; the orchestrator its database call.
    await until(() => (hop(serviceLogs.lines, 'services').length >= 2 ? true : undefined), 5000, 'gateway and users access lines');
    expect(hop(serviceLogs.lines, 'services').map((line) => line.url)).toEqual(['/api/v1/users', '/api/v1/users']);
    const dbCalls = orchestratorLogs.lines.filter((line) => line.reqId === id && line.msg === 'request');
    expect(dbCalls.map((line) => line.url)).toContain('/api/v1/db/write');

    const applied = await until(() => workerLines().find((line) => line.msg === 'write applied' && line.trace === id), 5000, 'the master\u2019s line');
    expect(String(applied.requestId).startsWith(`${id}/`)).toBe(true);
    const replicated = await until(() => workerLines().find((line) => line.msg === 'write replicated' && line.requestId === applied.requestId), 5000, 'a replica\u2019s line');
    expect(replicated.seq).toBe(applied.seq);

    for (const text of [
      serviceLogs.text(),
      orchestratorLogs.text(),
      workerLines()
        .map((line) => JSON.stringify(line))
        .join('\n'),
    ]) {
      expect(text).not.toContain(password);
    }
  });

  it('makes an id when the client gives none or an unusable one, and returns it', async () => {
    const none = await get(`${stack.gatewayUrl}/api/v1/rides?source=1&destination=2`);
    expect(none.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const unusable = await request('GET', `${stack.gatewayUrl}/api/v1/rides?source=1&destination=2`, { headers: { 'x-request-id': 'has spaces and "quotes"' } });
    expect(unusable.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(unusable.headers['x-request-id']).not.toBe(none.headers['x-request-id']);
  });

  it('serves Prometheus metrics on every HTTP process', async () => {
    await post(`${database.orchestratorUrl}/api/v1/db/read`, { table: 'users', columns: ['username'], where: {} });
    const orchestrator = await until(
      async () => {
        const text = (await get<string>(`${database.orchestratorUrl}/metrics`)).body;
        // Workers publish their position every half second.
        return (sample(text, 'rideshare_worker_applied_seq', { role: 'master' }) ?? 0) > 0 ? text : undefined;
      },
      5000,
      'worker gauges',
    );
    expect(sample(orchestrator, 'rideshare_http_requests_total', { method: 'POST', route: '/api/v1/db/read', status: '200' })).toBeGreaterThan(0);
    expect(sample(orchestrator, 'rideshare_rpc_duration_seconds_count', { kind: 'write', outcome: 'ok' })).toBeGreaterThan(0);
    expect(sample(orchestrator, 'rideshare_queue_messages', { queue: 'readQ' })).toBeGreaterThanOrEqual(0);
    expect(sample(orchestrator, 'rideshare_worker_lag_seqs', { role: 'slave' })).toBeGreaterThanOrEqual(0);
    expect(sample(orchestrator, 'rideshare_worker_starts_total', { role: 'slave', reason: 'initial' })).toBe(1);
    expect(sample(orchestrator, 'rideshare_process_cpu_seconds_total', {})).toBeGreaterThan(0);
    for (const url of [stack.gatewayUrl, stack.usersUrls[0], stack.ridesUrls[0]]) {
      const text = (await get<string>(`${url}/metrics`)).body;
      expect(
        sample(text, 'rideshare_http_request_duration_seconds_count', { route: '/api/v1/users' }) ?? sample(text, 'rideshare_http_request_duration_seconds_count', { route: '/api/v1/rides' }),
      ).toBeGreaterThan(0);
    }
  });

  it('ships a Grafana dashboard that asks only for metrics the processes serve', async () => {
    const dashboard = fs.readFileSync(new URL('../../ops/grafana/rideshare.json', import.meta.url), 'utf8');
    const asked = new Set([...dashboard.matchAll(/rideshare_[a-z0-9_]+/g)].map(([name]) => name.replace(/_(bucket|count|sum)$/, '')));
    const served = new Set<string>();
    for (const url of [database.orchestratorUrl, stack.gatewayUrl]) {
      const text = (await get<string>(`${url}/metrics`)).body;
      for (const [, name] of text.matchAll(/^# TYPE (\S+)/gm)) served.add(name as string);
    }
    expect(asked.size).toBeGreaterThan(10);
    expect([...asked].filter((name) => !served.has(name))).toEqual([]);
  });

  it('says every process is ready once what it needs answers', async () => {
    for (const url of [database.orchestratorUrl, stack.gatewayUrl, stack.usersUrls[0], stack.ridesUrls[0]]) {
      const ready = await get<{ status: string; reason: string }>(`${url}/ready`);
      expect(ready.status, `${url}: ${ready.body.reason}`).toBe(200);
    }
  });
});
