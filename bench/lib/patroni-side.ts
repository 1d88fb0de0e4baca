/**
 * The Patroni anchor's side of bench/hosts-anchor.ts: the bench's tables on the cluster
 * (bench/postgres.ts's DDL), single-row inserts into the leader through node-postgres with one
 * connection per request in flight, and the leader's PostgreSQL SIGKILLed for the failover. The
 * failover's writers know both nodes, as a libpq client given both hosts with
 * target_session_attrs=read-write would: a write refused or unanswered goes to the other node.
 */
import pg from 'pg';
import { PATRONI_USER, type PatroniAnchor } from '../../harness/hosts/patroni-anchor.ts';
import { sendSignal } from '../../src/shared/processes.ts';
import { DDL, type BenchRide } from '../postgres.ts';
import type { FailoverTarget } from './failover-writes.ts';
import { runLoad, type LoadResult } from './load.ts';

const INSERT_RIDE = 'INSERT INTO rides (created_by, "timestamp", source, destination) VALUES ($1, $2, $3, $4)';
const INSERT_USER = 'INSERT INTO users (username, password) VALUES ($1, $2)';

export class PatroniSide {
  private readonly pools = new Map<number, pg.Pool>();
  /** The failover writers' connections, one per lane, and the node each is on. */
  private readonly laneClients = new Map<number, { host: string; client: pg.Client }>();
  private leaderGuess: string | undefined;

  constructor(readonly anchor: PatroniAnchor) {}

  async seed(user: { username: string; password: string }): Promise<void> {
    const leader = await this.leader();
    const client = await this.connect(leader, 10_000);
    try {
      for (const statement of DDL) await client.query(statement);
      await client.query(INSERT_USER, [user.username, user.password]);
    } finally {
      await client.end();
    }
  }

  async leader(): Promise<string> {
    const host = await this.anchor.leaderHost();
    if (!host) throw new Error('the Patroni cluster has no leader');
    this.leaderGuess = host;
    return host;
  }

  async insertLoad(label: string, concurrency: number, requests: number, nextRide: () => BenchRide): Promise<LoadResult> {
    let pool = this.pools.get(concurrency);
    if (!pool) {
      const endpoint = await this.anchor.endpoint(await this.leader());
      pool = new pg.Pool({ ...endpoint, user: PATRONI_USER, database: 'postgres', max: concurrency });
      // An idle connection the server ends (its PostgreSQL killed in a failover) is dropped from the pool, not thrown.
      pool.on('error', () => undefined);
      this.pools.set(concurrency, pool);
    }
    const used = pool;
    return runLoad({
      label,
      concurrency,
      requests,
      task: async () => {
        const ride = nextRide();
        await used.query({ name: 'insert-ride', text: INSERT_RIDE, values: [ride.created_by, ride.timestamp, ride.source, ride.destination] });
        return true;
      },
    });
  }

  failoverTarget(): FailoverTarget {
    return {
      write: (key, lane, timeoutMs) => this.writeAnywhere(key, lane, timeoutMs),
      kill: async () => {
        const leader = await this.leader();
        const pids = this.anchor.postgresPids(leader);
        if (pids.length === 0) throw new Error(`no PostgreSQL runs on ${leader}`);
        const at = performance.now();
        for (const pid of pids) sendSignal(pid, 'SIGKILL');
        return { killed: `PostgreSQL on ${leader} (postmaster and ${pids.length - 1} children)`, at };
      },
      whole: async () => {
        const deadline = Date.now() + 180_000;
        while (!(await this.anchor.ready())) {
          if (Date.now() > deadline) throw new Error(`the Patroni cluster was not whole 180 s after the failover:\n${this.anchor.logTails()}`);
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      },
      present: async (keys) => {
        const client = await this.connect(await this.leader(), 10_000);
        try {
          const rows = (await client.query('SELECT username FROM users WHERE username = ANY($1)', [keys])).rows as { username: string }[];
          return new Set(rows.map((row) => row.username));
        } finally {
          await client.end();
        }
      },
    };
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.pools.values()].map((pool) => pool.end()));
    await Promise.allSettled([...this.laneClients.values()].map(({ client }) => client.end()));
    this.pools.clear();
    this.laneClients.clear();
  }

  /** The lane's connection first, then each node in turn; the node that took it is the next guess. */
  private async writeAnywhere(key: string, lane: number, timeoutMs: number): Promise<boolean> {
    const nodes = this.anchor.nodeHosts;
    const current = this.laneClients.get(lane)?.host ?? this.leaderGuess ?? (nodes[0] as string);
    for (const host of [current, ...nodes.filter((node) => node !== current)]) {
      let entry = this.laneClients.get(lane);
      if (entry?.host !== host) {
        await entry?.client.end().catch(() => undefined);
        this.laneClients.delete(lane);
        const client = await this.connect(host, timeoutMs).catch(() => undefined);
        if (!client) continue;
        entry = { host, client };
        this.laneClients.set(lane, entry);
      }
      try {
        await entry.client.query({ text: INSERT_USER, values: [key, 'p'.repeat(40)], query_timeout: timeoutMs } as pg.QueryConfig);
        this.leaderGuess = host;
        return true;
      } catch {
        await entry.client.end().catch(() => undefined);
        this.laneClients.delete(lane);
      }
    }
    return false;
  }

  private async connect(host: string, timeoutMs: number): Promise<pg.Client> {
    const endpoint = await this.anchor.endpoint(host);
    const client = new pg.Client({ ...endpoint, user: PATRONI_USER, database: 'postgres', connectionTimeoutMillis: timeoutMs });
    // A connection whose server is killed fails its query; the event on top of that is not news.
    client.on('error', () => undefined);
    await client.connect();
    return client;
  }
}
