/**
 * A long URL does not flood the logs: every line that names a URL (access lines, failed requests)
 * at the gateway and at the instance behind it shows it abbreviated, so requests with 200 kB paths
 * add a few hundred bytes each, not their length twice over.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from '../../harness/http.ts';
import { startGateway } from '../../src/services/gateway/gateway.ts';
import { GATEWAY_UPSTREAM_TIMEOUT_MS } from '../../src/services/gateway/settings.ts';
import type { ServiceHandle } from '../../src/services/http/service-app.ts';
import { startUsersService } from '../../src/services/users/users-service.ts';
import type { HttpHandle } from '../../src/shared/http/app.ts';
import { LOGGED_URL_CHARS } from '../../src/shared/http/logged-url.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { freePort } from '../../src/shared/ports.ts';

describe('logged URLs are abbreviated', () => {
  const lines: string[] = [];
  let users: ServiceHandle;
  let gateway: HttpHandle;

  beforeAll(async () => {
    const logger = createLogger('test-long-urls', 'info', { write: (line: string) => void lines.push(line) });
    // No database answers there: a call that reaches it fails with a 503, which is logged with its URL.
    const nowhere = `http://127.0.0.1:${await freePort()}`;
    users = await startUsersService({ port: 0, db: { urls: [nowhere], timeoutMs: 2000 }, logger });
    gateway = await startGateway({ port: 0, usersUpstreams: [users.url], ridesUpstreams: [users.url], timeoutMs: GATEWAY_UPSTREAM_TIMEOUT_MS, logger });
  });
  afterAll(async () => {
    await gateway?.close();
    await users?.close();
  });

  it('five requests with 200 kB paths through the gateway add a few kilobytes to the logs, and each URL is shown cut with its length', async () => {
    const long = 'a'.repeat(200 * 1000);
    const paths = [`/api/v1/users/${long}`, `/api/v1/users?username=bob&pad=${long}`, `/api/v1/users${long}`, `/api/v1/users/${long}?x=1`, `/api/v1/users?username=bob&pad=${long}`];
    lines.length = 0;
    for (const path of paths) {
      const method = path.includes('?') ? 'GET' : 'DELETE';
      const answer = await request(method, `${gateway.url}${path}`);
      expect(answer.status, path.slice(0, 40)).toBeGreaterThanOrEqual(400);
    }
    const logged = lines.join('');
    // An access line at each hop for each request, and a failure line for each 503.
    expect(lines.filter((line) => line.includes('"msg":"request"')).length).toBeGreaterThanOrEqual(5);
    expect(lines.some((line) => line.includes('"msg":"request failed"'))).toBe(true);
    expect(Buffer.byteLength(logged)).toBeLessThan(paths.length * 3 * 1024);
    expect(logged).toContain(`${'a'.repeat(LOGGED_URL_CHARS - '/api/v1/users/'.length)}…(${'/api/v1/users/'.length + long.length} bytes)`);
  });
});
