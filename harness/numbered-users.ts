/**
 * Rows a test can count: users named `<prefix>-<i>`, written one at a time through the database
 * service's API, and counted back with a fresh read of that prefix. Tests that kill and restart
 * the cluster use them to tell which acknowledged writes survived.
 */
import { RideShareError } from '../src/shared/errors.ts';
import type { DatabaseServiceHandle } from './database-service.ts';
import { post } from './http.ts';
import { until } from './replicas.ts';

const PASSWORD = 'b'.repeat(40);

/** Writes users `<prefix>-<from>` … `<prefix>-<to - 1>`, each acknowledged before the next; the last one's seq. */
export async function writeNumberedUsers(service: DatabaseServiceHandle, prefix: string, from: number, to: number): Promise<number> {
  let seq = 0;
  for (let i = from; i < to; i += 1) {
    const answer = await post<{ seq: number }>(`${service.orchestratorUrl}/api/v1/db/write`, { op: 'insert', table: 'users', values: { username: `${prefix}-${i}`, password: PASSWORD } });
    if (answer.status !== 200) throw new RideShareError('INTERNAL', `writing ${prefix}-${i} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
    seq = answer.body.seq;
  }
  return seq;
}

/** How many users of `prefix` a fresh read finds, once a read is answered (within 30 s). */
export async function countNumberedUsers(service: DatabaseServiceHandle, prefix: string): Promise<number> {
  const answer = await until(
    async () => {
      const read = await post<{ rows: { count: number }[] }>(`${service.orchestratorUrl}/api/v1/db/read`, {
        table: 'users',
        count: true,
        where: { username: { gte: `${prefix}-`, lt: `${prefix}.` } },
        fresh: true,
      });
      return read.status === 200 ? read.body : undefined;
    },
    30_000,
    'a read to be answered',
  );
  return answer.rows[0]?.count ?? 0;
}
