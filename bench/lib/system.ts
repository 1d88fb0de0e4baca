/**
 * The system under measurement, started the way `npm start` starts it: compiled JavaScript from
 * dist/ (built first, as `npm start` does), each service its own process, the shipped settings
 * (LOG_LEVEL info with an access line per request, metrics on, tokens checked), but in a cluster
 * of its own, on free ports, in a temporary DATA_DIR. Each process's output goes to a file there
 * (the access log is written, as it would be to a terminal or a collector, but not read).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureRabbitMq, ensureZooKeeper, type ServerHandle } from '../../src/infra/servers.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { PROJECT_ROOT } from '../../src/shared/entry-points.ts';
import { freePort } from '../../src/shared/ports.ts';
import { ServiceProcess } from '../../src/system/ServiceProcess.ts';
import { BENCH_TOKENS } from './tokens.ts';

export interface BenchSystem {
  amqpUrl: string;
  /** The settings its processes were started with (servers, cluster, DATA_DIR), for more processes of the same cluster. */
  env: Record<string, string>;
  orchestratorUrl: string;
  gatewayUrl?: string;
  dataDir: string;
  stop(): Promise<void>;
}

export { freePort };

/** How the figures name the shipped configuration. */
export const SHIPPED_DESCRIPTION = 'compiled dist/, LOG_LEVEL info with access lines, metrics on, tokens checked';

/** A measured configuration: as shipped, or quiet (LOG_LEVEL=warn: no access lines), named as such in the figures. */
export type BenchProfile = 'shipped' | 'quiet';

/** The settings a profile adds to the shipped ones. */
export function profileSettings(profile: BenchProfile): Record<string, string> {
  return profile === 'quiet' ? { LOG_LEVEL: 'warn' } : {};
}

/** `npm run build` once per bench run and project (it does nothing when dist/ is newer than every source). */
const built = new Set<string>();
function buildOnce(root: string): void {
  if (built.has(root)) return;
  const result = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`npm run build failed in ${root} (exit ${result.status ?? result.signal})`);
  built.add(root);
}

/**
 * The compiled entry of a service, by its source path under src/ (e.g. 'dbaas/orchestrator/main.ts'),
 * built if need be; `root`: another checkout of the project (bench/compare-builds.ts), this one unless given.
 */
export function compiledEntry(source: string, root = PROJECT_ROOT): string {
  buildOnce(root);
  return path.join(root, 'dist', source.replace(/\.ts$/, '.js'));
}

/** Where a bench process's output goes: a file of its own in the system's DATA_DIR. */
export function logFileOf(dataDir: string, name: string): string {
  return path.join(dataDir, `${name}.log`);
}

export async function startBenchSystem(options: { withServices: boolean; profile?: BenchProfile; root?: string }): Promise<BenchSystem> {
  const logger = createLogger('bench', 'warn');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rideshare-bench-'));
  const servers: ServerHandle[] = [];
  const processes: ServiceProcess[] = [];
  const stop = async () => {
    for (const service of [...processes].reverse()) await service.stop();
    for (const server of [...servers].reverse()) await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const rabbit = await ensureRabbitMq({ configuredUrl: process.env.AMQP_URL, dataDir, logger });
    servers.push(rabbit);
    const zookeeper = await ensureZooKeeper({ configuredConnect: process.env.ZK_CONNECT, dataDir, logger });
    servers.push(zookeeper);
    const ports = { ORCHESTRATOR_PORT: await freePort(), USERS_PORT: await freePort(), RIDES_PORT: await freePort(), GATEWAY_PORT: await freePort() };
    const env: Record<string, string> = {
      AMQP_URL: rabbit.address,
      ZK_CONNECT: zookeeper.address,
      DATA_DIR: dataDir,
      RIDESHARE_CLUSTER: `bench-${Date.now().toString(36)}`,
      // Measured as shipped: the database service checks the tokens the load clients send.
      SERVICE_TOKEN: BENCH_TOKENS.service,
      ADMIN_TOKEN: BENCH_TOKENS.admin,
      ...profileSettings(options.profile ?? 'shipped'),
      // One master and one slave throughout: a scaling window ending mid-measurement would change the system measured.
      SCALE_WINDOW_SECONDS: '86400',
      ...Object.fromEntries(Object.entries(ports).map(([key, value]) => [key, String(value)])),
    };
    const service = (name: string, source: string, port: number) => new ServiceProcess({ name, entry: compiledEntry(source, options.root), port, env, logFile: logFileOf(dataDir, name) });
    const plan = [service('orchestrator', 'dbaas/orchestrator/main.ts', ports.ORCHESTRATOR_PORT)];
    if (options.withServices) {
      plan.push(
        service('users', 'services/users/main.ts', ports.USERS_PORT),
        service('rides', 'services/rides/main.ts', ports.RIDES_PORT),
        service('gateway', 'services/gateway/main.ts', ports.GATEWAY_PORT),
      );
    }
    for (const service of plan) {
      processes.push(service);
      await service.start((name, code) => logger.warn({ name, code }, 'bench service exited'));
    }
    return {
      amqpUrl: rabbit.address,
      env,
      orchestratorUrl: `http://127.0.0.1:${ports.ORCHESTRATOR_PORT}`,
      ...(options.withServices ? { gatewayUrl: `http://127.0.0.1:${ports.GATEWAY_PORT}` } : {}),
      dataDir,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Resident memory of a process, from /proc (Linux). */
export function residentMegabytes(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kilobytes = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
  return kilobytes / 1024;
}
