/** Where the supervisor puts a new worker when workers run on several hosts (supervisor/placement.ts). */
import { describe, expect, it } from 'vitest';
import { chooseHost } from '../../src/dbaas/supervisor/placement.ts';

type Role = 'master' | 'slave';
const on = (entries: Record<string, Role[]>) => new Map(Object.entries(entries).map(([host, roles]) => [host, roles.map((role) => ({ role }))]));

describe('placement of workers on hosts', () => {
  it('puts slaves away from the master and spreads them, the least loaded host first', () => {
    const hosts = ['a', 'b', 'c'];
    expect(chooseHost({ role: 'slave', hosts, workersOn: on({ a: ['master'] }), ownHost: 'a' })).toBe('b');
    expect(chooseHost({ role: 'slave', hosts, workersOn: on({ a: ['master'], b: ['slave'] }), ownHost: 'a' })).toBe('c');
    expect(chooseHost({ role: 'slave', hosts, workersOn: on({ a: ['master'], b: ['slave', 'slave'], c: ['slave'] }), ownHost: 'a' })).toBe('c');
  });

  it('puts a master where no slave runs, its own host on a tie, and everything on the only host there is', () => {
    expect(chooseHost({ role: 'master', hosts: ['a', 'b', 'c'], workersOn: on({ a: ['slave'], b: ['slave'] }), ownHost: 'a' })).toBe('c');
    expect(chooseHost({ role: 'master', hosts: ['a', 'b'], workersOn: on({}), ownHost: 'b' })).toBe('b');
    expect(chooseHost({ role: 'slave', hosts: ['solo'], workersOn: on({ solo: ['master', 'slave'] }), ownHost: 'solo' })).toBe('solo');
  });

  it('refuses when no host agent runs', () => {
    expect(() => chooseHost({ role: 'slave', hosts: [], workersOn: on({}), ownHost: 'a' })).toThrow(/no host agent/);
  });
});
