/**
 * The gateway is ready when every route has an instance whose /health answers; each group's
 * background check (across hosts) also asks each answering instance's /ready.
 */
import { request } from 'undici';
import { boundedAgent } from '../../shared/http/bounded-agent.ts';
import { HEALTH_PATH, READY_CHECK_TIMEOUT_MS, READY_PATH, type Readiness } from '../../shared/http/health.ts';
import type { InstanceHealth, UpstreamGroup } from './upstream-group.ts';

const PROBE_TIMEOUT_MS = 1000;
/** An instance's own readiness check may take up to its deadline; the answer then comes just after. */
const READY_PROBE_TIMEOUT_MS = READY_CHECK_TIMEOUT_MS + 500;

/** The status the instance answers on `path` within the timeout; undefined when none came. */
async function statusOf(origin: string, path: string, timeoutMs: number): Promise<number | undefined> {
  try {
    const response = await request(`${origin}${path}`, { dispatcher: boundedAgent(timeoutMs), signal: AbortSignal.timeout(timeoutMs) });
    await response.body.dump();
    return response.statusCode;
  } catch {
    return undefined;
  }
}

/** Whether the instance's /health answers 200 within the timeout. */
export async function answers(origin: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<boolean> {
  return (await statusOf(origin, HEALTH_PATH, timeoutMs)) === 200;
}

/**
 * The groups' background check of one instance. Silence is judged on /health alone, which answers
 * at once from a live process; readiness may take an instance its own round trips (its
 * orchestrator, its gateway), so a slow /ready makes it unready, never silent.
 */
export async function instanceHealth(origin: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<InstanceHealth> {
  if (!(await answers(origin, timeoutMs))) return 'silent';
  return (await statusOf(origin, READY_PATH, READY_PROBE_TIMEOUT_MS)) === 200 ? 'ready' : 'unready';
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
