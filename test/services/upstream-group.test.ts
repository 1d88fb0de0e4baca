import { describe, expect, it } from 'vitest';
import { type InstanceHealth, UpstreamGroup } from '../../src/services/gateway/upstream-group.ts';
import { waitFor } from '../../src/shared/processes.ts';

const urls = ['http://127.0.0.1:1001', 'http://127.0.0.1:1002', 'http://127.0.0.1:1003'];

describe('choosing an instance', () => {
  it('takes the instances in turn', () => {
    const group = new UpstreamGroup({ name: 'rides', upstreams: urls });
    expect([1, 2, 3, 4].map(() => group.candidates()[0])).toEqual([urls[0], urls[1], urls[2], urls[0]]);
    expect(group.candidates()).toEqual([urls[1], urls[2], urls[0]]);
  });

  it('shares the load evenly among live ones while one is down, and tries the down one last', () => {
    let now = 0;
    const group = new UpstreamGroup({ name: 'rides', upstreams: urls, coolDownMs: 1000, now: () => now });
    group.markDown(urls[1] as string);
    const firsts = [1, 2, 3, 4].map(() => group.candidates());
    expect(firsts.map((order) => order[0])).toEqual([urls[0], urls[2], urls[0], urls[2]]);
    expect(firsts.every((order) => order.at(-1) === urls[1])).toBe(true);
    now = 1001;
    expect(new Set([1, 2, 3].map(() => group.candidates()[0]))).toEqual(new Set(urls));
  });

  it('a success brings an instance back at once', () => {
    const group = new UpstreamGroup({ name: 'users', upstreams: urls.slice(0, 2) });
    group.markDown(urls[0] as string);
    expect(group.candidates()).toEqual([urls[1], urls[0]]);
    group.markUp(urls[0] as string);
    expect(group.candidates()[0]).toBe(urls[0]);
  });

  it('needs at least one instance', () => {
    expect(() => new UpstreamGroup({ name: 'users', upstreams: [] })).toThrow(/at least one/);
  });
});

describe('health checks (across hosts)', () => {
  it('leaves out an instance whose /health does not answer twice in a row, and takes it back once it does', async () => {
    const healthy = new Map(urls.map((url) => [url, true]));
    const probe = async (origin: string): Promise<InstanceHealth> => (healthy.get(origin) ? 'ready' : 'silent');
    const group = new UpstreamGroup({ name: 'users', upstreams: urls.slice(0, 2), healthCheck: { intervalMs: 20, probe } });
    try {
      const only = (expected: string[]) => () => JSON.stringify(group.candidates()) === JSON.stringify(expected);
      healthy.set(urls[0] as string, false);
      expect(await waitFor(only([urls[1] as string]), 2000, 5)).toBe(true);
      expect([1, 2, 3].map(() => group.candidates())).toEqual([[urls[1]], [urls[1]], [urls[1]]]);
      healthy.set(urls[1] as string, false);
      expect(await waitFor(only([]), 2000, 5)).toBe(true);
      healthy.set(urls[0] as string, true);
      healthy.set(urls[1] as string, true);
      expect(await waitFor(() => group.candidates().length === 2, 2000, 5)).toBe(true);
      expect(new Set([1, 2].map(() => group.candidates()[0]))).toEqual(new Set(urls.slice(0, 2)));
    } finally {
      group.close();
    }
  });

  it('keeps an instance that misses a single check (a late answer on a loaded machine)', async () => {
    let firstProbes = 0;
    // urls[0] misses its first check only.
    const probe = async (origin: string): Promise<InstanceHealth> => (origin !== urls[0] || ++firstProbes !== 1 ? 'ready' : 'silent');
    const group = new UpstreamGroup({ name: 'users', upstreams: urls.slice(0, 2), healthCheck: { intervalMs: 20, probe } });
    try {
      let leftOut = false;
      const sampled = await waitFor(
        () => {
          if (!group.candidates().includes(urls[0] as string)) leftOut = true;
          return firstProbes >= 4;
        },
        2000,
        2,
      );
      expect(sampled).toBe(true);
      expect(leftOut).toBe(false);
    } finally {
      group.close();
    }
  });

  it('tries an instance that answers but is not ready after the ready ones, and takes it back in turn once ready', async () => {
    const health = new Map<string, InstanceHealth>(urls.map((url) => [url, 'ready']));
    let probes = 0;
    const probe = async (origin: string): Promise<InstanceHealth> => {
      probes += 1;
      return health.get(origin) ?? 'silent';
    };
    const group = new UpstreamGroup({ name: 'rides', upstreams: urls, healthCheck: { intervalMs: 20, probe } });
    /** Until every instance was checked at least twice since now. */
    const twoRounds = async (): Promise<void> => {
      const from = probes;
      expect(await waitFor(() => probes >= from + 2 * urls.length, 2000, 5)).toBe(true);
    };
    try {
      health.set(urls[0] as string, 'unready');
      await twoRounds();
      const orders = [1, 2, 3, 4].map(() => group.candidates());
      expect(orders.map((order) => order[0])).toEqual([urls[1], urls[2], urls[1], urls[2]]);
      expect(orders.every((order) => order.length === 3 && order.at(-1) === urls[0])).toBe(true);
      // None ready: every one is still tried, so the answer says what is missing.
      for (const url of urls) health.set(url, 'unready');
      await twoRounds();
      expect(group.candidates()).toHaveLength(3);
      for (const url of urls) health.set(url, 'ready');
      await twoRounds();
      expect(new Set([1, 2, 3].map(() => group.candidates()[0]))).toEqual(new Set(urls));
    } finally {
      group.close();
    }
  });
});
