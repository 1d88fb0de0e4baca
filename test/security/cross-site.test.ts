/**
 * No cross-site writes on any server: a page on another site that makes a visitor's browser POST
 * a `text/plain` body (no preflight needed) to an instance's db/clear, or, with authorization off,
 * to the orchestrator's crash and clear, is refused with a 403 and changes nothing. Calls without
 * a browser's headers, and a page's calls to its own origin through the gateway, still work.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDatabaseService, type DatabaseServiceHandle } from '../../harness/database-service.ts';
import { get, request } from '../../harness/http.ts';
import { startStack, type Stack } from '../../harness/services/stack.ts';

const PASSWORD = 'd'.repeat(40);
const ATTACKER = 'http://attacker.example';

describe('no server takes a state-changing request from another site', () => {
  let database: DatabaseServiceHandle;
  let stack: Stack;
  const kept = `kept-${Date.now()}`;

  beforeAll(async () => {
    // Authorization off (the tests' default): nothing but the origin check stands in the way.
    database = await startDatabaseService({ slaves: 1 });
    stack = await startStack({ orchestratorUrl: database.orchestratorUrl });
    expect((await request('PUT', `${stack.gatewayUrl}/api/v1/users`, { json: { username: kept, password: PASSWORD } })).status).toBe(201);
  });
  afterAll(async () => {
    await stack?.close();
    await database?.stop();
  });

  const targets = (): [string, string, string][] => {
    const users = stack.usersUrls[0]!;
    const rides = stack.ridesUrls[0]!;
    const orchestrator = database.orchestratorUrl;
    return [
      ['POST', users, '/api/v1/db/clear'],
      ['DELETE', users, '/api/v1/_count'],
      ['PUT', users, '/api/v1/users'],
      ['DELETE', users, `/api/v1/users/${kept}`],
      ['POST', rides, '/api/v1/db/clear'],
      ['DELETE', rides, '/api/v1/_count'],
      ['POST', rides, '/api/v1/rides'],
      ['PUT', stack.gatewayUrl, '/api/v1/users'],
      ['DELETE', stack.gatewayUrl, `/api/v1/users/${kept}`],
      ['POST', orchestrator, '/api/v1/db/clear'],
      ['POST', orchestrator, '/api/v1/db/write'],
      ['POST', orchestrator, '/api/v1/crash/master'],
      ['POST', orchestrator, '/api/v1/crash/slave'],
      ['PUT', orchestrator, '/api/v1/scaling/slaves'],
      ['POST', orchestrator, '/api/v1/db/backup'],
    ];
  };
  const crossSite: [string, Record<string, string>][] = [
    ['an Origin of another site', { origin: ATTACKER }],
    ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site' }],
    ['Origin: null', { origin: 'null' }],
  ];

  it.each(crossSite)('refuses every state-changing endpoint of every server to %s, and nothing changes', async (_what, headers) => {
    const pids = (await get<number[]>(`${database.orchestratorUrl}/api/v1/worker/list`)).body;
    for (const [method, base, path] of targets()) {
      const body = path === '/api/v1/db/write' ? JSON.stringify({ op: 'clear' }) : JSON.stringify({ username: `x${Date.now()}`, password: PASSWORD });
      const answer = await request<{ code?: string; error?: string }>(method, `${base}${path}`, { raw: body, headers: { ...headers, 'content-type': 'text/plain' } });
      expect(answer.status, `${method} ${base}${path}: ${answer.text.slice(0, 200)}`).toBe(403);
      expect(answer.body.code).toBe('FORBIDDEN');
      expect(answer.headers['content-type']).toMatch(/application\/json/);
    }
    expect((await get(`${stack.gatewayUrl}/api/v1/users?username=${kept}`)).body).toEqual([kept]);
    expect((await get<number[]>(`${database.orchestratorUrl}/api/v1/worker/list`)).body).toEqual(pids);
  });

  it('takes calls without a browser\u2019s headers, and a page\u2019s calls to its own origin', async () => {
    const users = stack.usersUrls[0]!;
    expect((await request('DELETE', `${users}/api/v1/_count`)).status).toBe(200);
    expect((await request('DELETE', `${users}/api/v1/_count`, { headers: { origin: users, 'sec-fetch-site': 'same-origin' } })).status).toBe(200);
    expect((await request('PUT', `${database.orchestratorUrl}/api/v1/scaling/slaves`, { json: { slaves: 1 }, headers: { origin: database.orchestratorUrl } })).status).toBe(200);
    // GET is not a write: another site may read what anyone may read.
    expect((await get(`${stack.gatewayUrl}/api/v1/users`, { headers: { origin: ATTACKER } })).status).toBe(200);
  });

  it('lets a page on the gateway\u2019s origin write through the gateway to an instance behind another Host', async () => {
    const name = `browser-${Date.now()}`;
    const browser = { origin: stack.gatewayUrl, 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors' };
    const created = await request('PUT', `${stack.gatewayUrl}/api/v1/users`, { raw: JSON.stringify({ username: name, password: PASSWORD }), headers: { ...browser, 'content-type': 'text/plain' } });
    expect(created.status, created.text).toBe(201);
    expect((await get(`${stack.gatewayUrl}/api/v1/users?username=${name}`)).body).toEqual([name]);
    const removed = await request('DELETE', `${stack.gatewayUrl}/api/v1/users/${name}`, { headers: browser });
    expect(removed.status, removed.text).toBe(200);
  });
});
