/**
 * Idempotency keys are unique per write whatever the client sends as X-Request-Id: some proxies
 * and SDKs send one id on every request, and two writes sharing a key would be answered with one
 * write's answer and the other never applied.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDatabaseService, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { inParallel, request } from '../../harness/http.ts';
import { writeIdFor } from '../../src/shared/request-context.ts';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('idempotency keys of writes that share an X-Request-Id', () => {
  it('carry a whole random UUID (122 bits) beside the request id, and 100,000 of them never collide', () => {
    const keys = Array.from({ length: 100_000 }, () => writeIdFor('one-id-for-everything'));
    for (const key of keys.slice(0, 100)) {
      const [id, unique] = key.split('/');
      expect(id).toBe('one-id-for-everything');
      expect(unique).toMatch(UUID_V4);
    }
    expect(new Set(keys).size).toBe(keys.length);
  });

  describe('through the database service', () => {
    let service: DatabaseServiceHandle;
    beforeAll(async () => {
      service = await startDatabaseService({ slaves: 1 });
    });
    afterAll(async () => {
      await service?.stop();
    });

    it('applies every write sent with the same X-Request-Id, each once', async () => {
      const count = 2_000;
      const answers = await inParallel(count, 64, (i) =>
        request<{ seq: number }>('POST', `${service.orchestratorUrl}/api/v1/db/write`, {
          json: { op: 'insert', table: 'users', values: { username: `same-id-${i}`, password: 'c4'.repeat(20) } },
          headers: { 'x-request-id': 'reused-by-a-careless-proxy' },
        }),
      );
      expect(answers.filter((answer) => answer.status !== 200)).toEqual([]);
      expect(new Set(answers.map((answer) => answer.body.seq)).size).toBe(count);
      const counted = await request<{ rows: { count: number }[] }>('POST', `${service.orchestratorUrl}/api/v1/db/read`, {
        json: { table: 'users', count: true, fresh: true },
      });
      expect(counted.status).toBe(200);
      expect(counted.body).toMatchObject({ rows: [{ count }] });
    });
  });
});
