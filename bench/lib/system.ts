/**
 * The system under measurement, started the way `npm start` starts it (each service its own
 * process) but in a cluster of its own, on free ports, in a temporary DATA_DIR.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureRabbitMq, ensureZooKeeper, type ServerHandle } from '../../src/infra/servers.ts';
import { createLogger } from '../../src/shared/logger.ts';
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

export async function startBenchSystem(options: { withServices: boolean }): Promise<BenchSystem> {
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
      LOG_LEVEL: 'warn',
      // One master and one slave throughout: a scaling window ending mid-measurement would change the system measured.
      SCALE_WINDOW_SECONDS: '86400',
      ...Object.fromEntries(Object.entries(ports).map(([key, value]) => [key, String(value)])),
    };
    const plan = [new ServiceProcess({ name: 'orchestrator', entry: 'src/dbaas/orchestrator/main.ts', port: ports.ORCHESTRATOR_PORT, env })];
    if (options.withServices) {
      plan.push(
        new ServiceProcess({ name: 'users', entry: 'src/services/users/main.ts', port: ports.USERS_PORT, env }),
        new ServiceProcess({ name: 'rides', entry: 'src/services/rides/main.ts', port: ports.RIDES_PORT, env }),
        new ServiceProcess({ name: 'gateway', entry: 'src/services/gateway/main.ts', port: ports.GATEWAY_PORT, env }),
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
