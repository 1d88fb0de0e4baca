/** The gateway is ready when every route has an instance whose /health answers. */
import { request } from 'undici';
import { boundedAgent } from '../../shared/http/bounded-agent.ts';
import type { Readiness } from '../../shared/http/health.ts';
import type { UpstreamGroup } from './upstream-group.ts';

const PROBE_TIMEOUT_MS = 1000;

/** Whether the instance's /health answers 200 within the timeout (also the groups' health check). */
export async function answers(origin: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<boolean> {
  try {
    const response = await request(`${origin}/health`, { dispatcher: boundedAgent(timeoutMs), signal: AbortSignal.timeout(timeoutMs) });
    await response.body.dump();
    return response.statusCode === 200;
  } catch {
    return false;
  }
}

export async function upstreamReadiness(groups: UpstreamGroup[]): Promise<Readiness> {
  const live: Record<string, string[]> = {};
  await Promise.all(
    groups.map(async (group) => {
      const results = await Promise.all(group.origins.map(async (origin) => ((await answers(origin)) ? origin : undefined)));
      live[group.name] = results.filter((origin): origin is string => origin !== undefined);
    }),
  );
  const missing = groups.filter((group) => (live[group.name] ?? []).length === 0).map((group) => group.name);
  if (missing.length > 0) return { ready: false, reason: `no live ${missing.join(' or ')} instance`, details: { live } };
  return { ready: true, reason: 'every route has a live instance', details: { live } };
}
