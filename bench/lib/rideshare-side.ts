/**
 * RideShare's side of bench/hosts-anchor.ts: the three-host deployment of docs/hosts.md in the
 * highly available placement (BedFaultEnvironment: the workers on the db host), reached through
 * an orchestrator with the service token, as bench/database.ts issues its single-row db/write. The
 * failover SIGKILLs the master worker, found in ZooKeeper; acknowledged writes are read back with
 * the highest acknowledged seq as minSeq, so a lagging slave cannot hide one.
 */
import { httpClient, type HttpClient } from '../../harness/http.ts';
import { sendSignal } from '../../src/shared/processes.ts';
import type { BedFaultEnvironment } from '../../harness/hosts/bed-faults/bed-fault-environment.ts';
import { pointReadTask } from '../database.ts';
import type { BenchRide } from '../postgres.ts';
import type { FailoverTarget } from './failover-writes.ts';
import { runLoad, type LoadOptions, type LoadResult } from './load.ts';

const MAX_IN_LIST = 1000;

export class RideShareSide {
  private readonly clients = new Map<number, HttpClient>();
  private readonly failoverClient: HttpClient;
  private highestSeq = 0;

  constructor(
    private readonly env: BedFaultEnvironment,
    /** The orchestrator's URL as this process reaches it (through the bridge of the client's host). */
    private readonly orchestratorUrl: string,
  ) {
    this.failoverClient = httpClient(orchestratorUrl, { connections: 8, timeoutMs: 10_000, headers: env.serviceHeaders });
  }

  async seed(user: { username: string; password: string }): Promise<void> {
    const answer = await this.failoverClient.post('/api/v1/db/write', { op: 'insert', table: 'users', values: user });
    if (answer.status !== 200) throw new Error(`seeding RideShare failed: ${answer.status} ${JSON.stringify(answer.body)}`);
  }

  /** db/read point reads (the bench user by name), as bench/database.ts measures them. */
  readLoad(concurrency: number, requests: number): Promise<LoadResult> {
    return runLoad(this.readOptions(concurrency, requests));
  }

  readOptions(concurrency: number, requests: number): LoadOptions {
    return { label: 'db/read point', concurrency, requests, task: pointReadTask(this.client(concurrency)) };
  }

  insertLoad(label: string, concurrency: number, requests: number, nextRide: () => BenchRide): Promise<LoadResult> {
    return runLoad({ ...this.insertOptions(concurrency, requests, nextRide), label });
  }

  /** Single-row inserts (one ride each), as bench/database.ts issues its db/write. */
  insertOptions(concurrency: number, requests: number, nextRide: () => BenchRide): LoadOptions {
    const used = this.client(concurrency);
    return {
      label: 'db/write',
      concurrency,
      requests,
      task: async () => (await used.post('/api/v1/db/write', { op: 'insert', table: 'rides', values: nextRide() })).status === 200,
    };
  }

  failoverTarget(): FailoverTarget {
    return {
      write: async (key, _lane, timeoutMs) => {
        const answer = await this.failoverClient.call<{ seq?: number }>('POST', '/api/v1/db/write', {
          json: { op: 'insert', table: 'users', values: { username: key, password: 'p'.repeat(40) } },
          timeoutMs,
        });
        if (answer.status !== 200) return false;
        this.highestSeq = Math.max(this.highestSeq, answer.body?.seq ?? 0);
        return true;
      },
      kill: async () => {
        const { workers } = await this.env.wholeness();
        const master = workers.find((worker) => worker.role === 'master');
        if (!master) throw new Error('RideShare has no master to kill');
        const at = performance.now();
        sendSignal(master.pid, 'SIGKILL');
        return { killed: `master worker pid ${master.pid} (epoch ${master.epoch})`, at };
      },
      whole: async () => {
        const unwell = await this.env.waitWhole(180_000);
        if (unwell) throw new Error(`RideShare was not whole 180 s after the failover: ${unwell}`);
      },
      present: async (keys) => {
        const found = new Set<string>();
        for (let start = 0; start < keys.length; start += MAX_IN_LIST) {
          const chunk = keys.slice(start, start + MAX_IN_LIST);
          const query = { table: 'users', columns: ['username'], where: { username: { in: chunk } }, limit: MAX_IN_LIST, minSeq: this.highestSeq };
          const answer = await this.failoverClient.post<{ rows: { username: string }[] }>('/api/v1/db/read', query);
          if (answer.status !== 200) throw new Error(`reading back RideShare's acknowledged writes failed: ${answer.status} ${JSON.stringify(answer.body)}`);
          for (const row of answer.body.rows) found.add(row.username);
        }
        return found;
      },
    };
  }

  private client(concurrency: number): HttpClient {
    let client = this.clients.get(concurrency);
    if (!client) {
      client = httpClient(this.orchestratorUrl, { connections: concurrency, timeoutMs: 10_000, headers: this.env.serviceHeaders });
      this.clients.set(concurrency, client);
    }
    return client;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.clients.values(), this.failoverClient].map((client) => client.close()));
  }
}
