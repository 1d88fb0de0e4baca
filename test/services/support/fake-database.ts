/**
 * An in-memory stand-in for the database service's HTTP API (docs/database-api.md), for tests
 * that must control it: make it unavailable, lose a write's answer, see what was sent. The real
 * service is exercised by the e2e-*.test.ts files.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

type Row = Record<string, string | number>;
type Condition = string | number | Partial<Record<'eq' | 'ne' | 'gt' | 'gte' | 'lt' | 'lte' | 'in', unknown>>;

interface Recorded {
  path: string;
  body: Record<string, unknown>;
}

export class FakeDatabase {
  readonly requests: Recorded[] = [];
  /** While true every call answers 503. */
  unavailable = false;
  /** Writes still to be applied but answered with 503, as when an answer is lost. */
  loseWriteAnswers = 0;
  #server: http.Server | undefined;
  #tables: Record<string, Row[]> = { users: [], rides: [], ride_members: [] };
  #nextRideId = 1;
  #seq = 0;
  #answered = new Map<string, unknown>();

  async start(): Promise<string> {
    this.#server = http.createServer((req, res) => {
      let text = '';
      req.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      req.on('end', () => {
        const { status, body } = this.#handle(req.url ?? '', text);
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      });
    });
    await new Promise<void>((resolve) => this.#server?.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise((resolve) => this.#server?.close(resolve));
  }

  rows(table: string): Row[] {
    return this.#tables[table] ?? [];
  }

  #handle(path: string, text: string): { status: number; body: unknown } {
    const body = (text === '' ? {} : JSON.parse(text)) as Record<string, unknown>;
    this.requests.push({ path, body });
    if (this.unavailable) return { status: 503, body: { error: 'no worker answered', code: 'UNAVAILABLE' } };
    try {
      if (path === '/api/v1/db/read') return { status: 200, body: this.#read(body) };
      if (path === '/api/v1/db/write') return this.#writeOnce(body);
      if (path === '/api/v1/db/clear') {
        this.#tables = { users: [], rides: [], ride_members: [] };
        return { status: 200, body: {} };
      }
      return { status: 404, body: { error: 'no such path', code: 'NOT_FOUND' } };
    } catch (error) {
      const [code, message] = String((error as Error).message).split(': ');
      return { status: code === 'BAD_REQUEST' ? 400 : 409, body: { error: message, code } };
    }
  }

  #read(query: Record<string, unknown>): unknown {
    let rows = this.rows(String(query.table)).filter((row) => matches(row, (query.where ?? {}) as Record<string, Condition>));
    for (const order of [...((query.orderBy ?? []) as { column: string; direction: string }[])].reverse()) {
      rows = [...rows].sort((a, b) => compare(a[order.column], b[order.column]) * (order.direction === 'desc' ? -1 : 1));
    }
    if (query.count === true) return { rows: [{ count: rows.length }], seq: this.#seq };
    rows = rows.slice(Number(query.offset ?? 0), query.limit === undefined ? undefined : Number(query.offset ?? 0) + Number(query.limit));
    const columns = query.columns as string[] | undefined;
    const shown = rows.map((row) => (columns ? Object.fromEntries(columns.map((c) => [c, row[c] as string | number])) : { ...row }));
    return { rows: shown, seq: this.#seq };
  }

  #writeOnce(write: Record<string, unknown>): { status: number; body: unknown } {
    const requestId = String(write.requestId ?? '');
    const body = this.#answered.get(requestId) ?? this.#write(write);
    this.#answered.set(requestId, body);
    if (this.loseWriteAnswers > 0) {
      this.loseWriteAnswers -= 1;
      return { status: 503, body: { error: 'answer lost', code: 'TIMEOUT' } };
    }
    return { status: 200, body };
  }

  #write(write: Record<string, unknown>): unknown {
    const table = String(write.table);
    const values = (write.values ?? {}) as Row;
    for (const value of Object.values(values)) {
      if (typeof value === 'string' && value.length > 1024) throw new Error('BAD_REQUEST: text longer than 1024 characters');
    }
    if (write.op === 'insert') return this.#insert(table, values);
    if (write.op === 'delete') {
      const doomed = this.rows(table).filter((row) => matches(row, write.where as Record<string, Condition>));
      doomed.forEach((row) => this.#cascadeDelete(table, row));
      return { changes: doomed.length, seq: ++this.#seq, epoch: 1 };
    }
    throw new Error(`BAD_REQUEST: op ${String(write.op)} not supported by the fake`);
  }

  #insert(table: string, values: Row): unknown {
    const rows = this.rows(table);
    if (table === 'users' && rows.some((row) => row.username === values.username)) throw new Error('UNIQUE_VIOLATION: duplicate username');
    if (table === 'ride_members' && rows.some((row) => row.ride_id === values.ride_id && row.username === values.username)) {
      throw new Error('UNIQUE_VIOLATION: duplicate member');
    }
    const user = table === 'rides' ? values.created_by : table === 'ride_members' ? values.username : undefined;
    if (user !== undefined && !this.rows('users').some((row) => row.username === user)) throw new Error('FOREIGN_KEY_VIOLATION: no such user');
    if (table === 'ride_members' && !this.rows('rides').some((row) => row.ride_id === values.ride_id)) {
      throw new Error('FOREIGN_KEY_VIOLATION: no such ride');
    }
    if (table === 'rides') {
      const rideId = this.#nextRideId++;
      rows.push({ ride_id: rideId, ...values });
      return { changes: 1, insertId: rideId, seq: ++this.#seq, epoch: 1 };
    }
    rows.push({ ...values });
    return { changes: 1, seq: ++this.#seq, epoch: 1 };
  }

  #cascadeDelete(table: string, row: Row): void {
    this.#tables[table] = this.rows(table).filter((other) => other !== row);
    if (table === 'users') {
      this.rows('rides').filter((ride) => ride.created_by === row.username).forEach((ride) => this.#cascadeDelete('rides', ride));
      this.#tables.ride_members = this.rows('ride_members').filter((member) => member.username !== row.username);
    }
    if (table === 'rides') this.#tables.ride_members = this.rows('ride_members').filter((member) => member.ride_id !== row.ride_id);
  }
}

function compare(a: unknown, b: unknown): number {
  if (a === b) return 0;
  return (a as number | string) < (b as number | string) ? -1 : 1;
}

function matches(row: Row, where: Record<string, Condition>): boolean {
  return Object.entries(where).every(([column, condition]) => {
    const value = row[column];
    if (typeof condition !== 'object') return value === condition;
    return Object.entries(condition).every(([operator, operand]) => {
      if (operator === 'in') return (operand as unknown[]).includes(value);
      const order = compare(value, operand);
      return { eq: order === 0, ne: order !== 0, gt: order > 0, gte: order >= 0, lt: order < 0, lte: order <= 0 }[operator] ?? false;
    });
  });
}
