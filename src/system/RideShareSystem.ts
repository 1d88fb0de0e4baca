/**
 * Everything `npm start` runs, and how it ends. Start: RabbitMQ and ZooKeeper (found or private),
 * then the first orchestrator (which starts the workers), the other orchestrators (standing by),
 * the users and rides instances and the gateway, each kept running (KeptService). Stop: the services in reverse order, then any worker of the cluster the
 * orchestrator left behind (it may have had to be killed after its grace), then the private
 * servers. Force: SIGKILL to every process group, every worker of the cluster, every private
 * server, at once.
 */
import { redactUrl } from '../shared/redact.ts';
import path from 'node:path';
import { ensureRabbitMq, ensureZooKeeper, type ServerHandle } from '../infra/servers.ts';
import type { Config } from '../shared/config.ts';
import { entryPoint } from '../shared/entry-points.ts';
import type { Logger } from '../shared/logger.ts';
import { killClusterWorkers } from '../dbaas/runtime/workerProcesses.ts';
import { KeptService, type RestartPolicy } from './KeptService.ts';
import { GATEWAY_SETTINGS, ORCHESTRATOR_SETTINGS, RIDES_SETTINGS, USERS_SETTINGS } from './settingsOfProcesses.ts';
import { RideShareError } from '../shared/errors.ts';

/** What one kind of process gets: variables of ours by name, and values decided here. */
interface ChildSettings {
  inherit: readonly string[];
  env: Record<string, string>;
}

/** Workers the orchestrator left behind: SIGTERM (they close cleanly), SIGKILL after this. */
const LEFTOVER_WORKER_GRACE_MS = 3000;

export interface RideShareSystemOptions {
  config: Config;
  logger: Logger;
  restart?: Partial<RestartPolicy>;
}

export class RideShareSystem {
  private readonly servers: ServerHandle[] = [];
  private readonly services: KeptService[] = [];
  private readonly logger: Logger;
  private starting: Promise<void> = Promise.resolve();
  private stopping: Promise<void> | undefined;
  private forcing: Promise<void> | undefined;

  constructor(private readonly options: RideShareSystemOptions) {
    this.logger = options.logger;
  }

  /** Resolves once every service listens; rejects (having started nothing more) if a stop began meanwhile. */
  start(): Promise<void> {
    this.starting = this.startAll();
    return this.starting;
  }

  private async startAll(): Promise<void> {
    const { config } = this.options;
    if (config.RESTORE_FROM) {
      // Before anything starts: a backup that does not check out stops the start at once.
      const { restoreOnFirstStart } = await import('../dbaas/backup/Restore.ts');
      await restoreOnFirstStart({ backupFile: config.RESTORE_FROM, dataDir: config.DATA_DIR, logger: this.logger });
    }
    const rabbit = await ensureRabbitMq({ configuredUrl: config.AMQP_URL, dataDir: config.DATA_DIR, logger: this.logger });
    this.servers.push(rabbit);
    this.checkNotStopping();
    const zookeeper = await ensureZooKeeper({ configuredConnect: config.ZK_CONNECT, dataDir: config.DATA_DIR, logger: this.logger });
    this.servers.push(zookeeper);
    const env = {
      AMQP_URL: rabbit.address,
      ZK_CONNECT: zookeeper.address,
      DATA_DIR: config.DATA_DIR,
      // Every instance learns every orchestrator and every upstream, whichever port it has itself.
      ORCHESTRATOR_URL: config.ORCHESTRATOR_URLS.join(','),
      USERS_UPSTREAMS: config.USERS_UPSTREAMS.join(','),
      RIDES_UPSTREAMS: config.RIDES_UPSTREAMS.join(','),
    };
    // Each runs the way this process does: compiled from dist/, or from src/ through tsx.
    // Each gets the addresses it needs and the settings it reads, nothing more (settingsOfProcesses.ts).
    const kept = (name: string, source: string, portVariable: string, port: number, own: ChildSettings, stopGraceMs?: number) =>
      new KeptService({ name, entry: entryPoint(source), port, env: { ...own.env, [portVariable]: String(port) }, inherit: own.inherit, stopGraceMs, logger: this.logger, restart: this.options.restart });
    const instances = (name: string, source: string, portVariable: string, list: number[], own: ChildSettings, stopGraceMs?: number) =>
      list.map((port, index) => kept(list.length === 1 ? name : `${name}-${index + 1}`, source, portVariable, port, own, stopGraceMs));
    const orchestratorSettings = { inherit: ORCHESTRATOR_SETTINGS, env: { AMQP_URL: env.AMQP_URL, ZK_CONNECT: env.ZK_CONNECT, DATA_DIR: env.DATA_DIR, ORCHESTRATOR_URL: env.ORCHESTRATOR_URL } };
    const databaseClient = { DATA_DIR: env.DATA_DIR, ORCHESTRATOR_URL: env.ORCHESTRATOR_URL };
    const [supervising, ...standbys] = instances('orchestrator', 'dbaas/orchestrator/main.ts', 'ORCHESTRATOR_PORT', config.ORCHESTRATOR_PORTS, orchestratorSettings, config.ORCHESTRATOR_STOP_GRACE_MS);
    // The services need the orchestrator only when a request comes, and not each other to start.
    const services = [
      ...standbys,
      ...instances('users', 'services/users/main.ts', 'USERS_PORT', config.USERS_PORTS, { inherit: USERS_SETTINGS, env: databaseClient }),
      ...instances('rides', 'services/rides/main.ts', 'RIDES_PORT', config.RIDES_PORTS, { inherit: RIDES_SETTINGS, env: databaseClient }),
      kept('gateway', 'services/gateway/main.ts', 'GATEWAY_PORT', config.GATEWAY_PORT, { inherit: GATEWAY_SETTINGS, env: { USERS_UPSTREAMS: env.USERS_UPSTREAMS, RIDES_UPSTREAMS: env.RIDES_UPSTREAMS } }),
    ];
    // The first one starts alone: it takes the supervisor lease and starts the workers.
    await this.launch([supervising as KeptService]);
    await this.launch(services);
    this.logger.info(
      { gateway: config.GATEWAY_URL, orchestrators: config.ORCHESTRATOR_URLS, rabbitmq: redactUrl(rabbit.address), zookeeper: zookeeper.address },
      'RideShare is up',
    );
  }

  /** Starts these together; listed first, so a stop that comes meanwhile stops them too. */
  private async launch(services: KeptService[]): Promise<void> {
    this.checkNotStopping();
    this.services.push(...services);
    const results = await Promise.allSettled(services.map((service) => service.start()));
    const failed = results.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private checkNotStopping(): void {
    if (this.stopping || this.forcing) throw new RideShareError('INVALID_STATE', 'stopped during start-up');
  }

  /** The services by name, while they run (tests and diagnostics). */
  service(name: string): KeptService | undefined {
    return this.services.find((service) => service.name === name);
  }

  get isStopping(): boolean {
    return this.stopping !== undefined || this.forcing !== undefined;
  }

  /** Graceful, in reverse order of start; a second call waits for the first. */
  stop(): Promise<void> {
    this.stopping ??= this.stopAll();
    return this.stopping;
  }

  private async stopAll(): Promise<void> {
    // SIGINT: the whole system stops, so no instance drains for callers that are stopping too.
    for (const service of [...this.services].reverse()) await service.stop(undefined, 'SIGINT');
    await this.sweepWorkers(LEFTOVER_WORKER_GRACE_MS);
    // A server still starting is stopped once it has started (its start has its own deadline).
    await this.starting.catch(() => undefined);
    await this.sweepWorkers(LEFTOVER_WORKER_GRACE_MS);
    for (const server of [...this.servers].reverse()) {
      await server.stop().catch((error: unknown) => this.logger.error({ err: error }, 'server stop failed'));
    }
  }

  /** Everything SIGKILLed at once: the services' groups, the cluster's workers, the private servers. */
  force(): Promise<void> {
    this.forcing ??= this.killAll();
    return this.forcing;
  }

  private async killAll(): Promise<void> {
    for (const server of this.servers) server.kill();
    await Promise.all([...this.services.map((service) => service.kill()), this.sweepWorkers(0)]);
  }

  /**
   * The orchestrator stops its workers when it stops; this is for those it could not (killed
   * after its grace, or crashed while stopping): they are found by their process tag.
   */
  private async sweepWorkers(graceMs: number): Promise<void> {
    const cluster = this.options.config.RIDESHARE_CLUSTER;
    const killed = await killClusterWorkers(cluster, { graceMs });
    if (killed.length > 0) this.logger.warn({ workers: killed.map((worker) => ({ workerId: worker.workerId, pid: worker.pid })) }, 'stopped workers the orchestrator left running');
    if (this.options.config.WORKER_RUNTIME === 'docker') await this.removeWorkerContainers();
  }

  /** Containers outlive a killed orchestrator the same way; DockerRuntime.close removes every one of the cluster. */
  private async removeWorkerContainers(): Promise<void> {
    const { config } = this.options;
    const { DockerRuntime } = await import('../dbaas/runtime/DockerRuntime.ts');
    const runtime = new DockerRuntime({ cluster: config.RIDESHARE_CLUSTER, dataDir: config.DATA_DIR, logDir: path.join(config.DATA_DIR, 'logs'), image: config.WORKER_IMAGE, logger: this.logger });
    await runtime.close().catch((error: unknown) => this.logger.error({ err: error }, 'could not remove the cluster\u2019s worker containers'));
  }
}
