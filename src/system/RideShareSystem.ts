/**
 * Everything `npm start` runs, and how it ends. Across hosts (a HostPlan, docs/hosts.md) it is
 * this host's share instead: its RabbitMQ cluster node and ZooKeeper ensemble server, one
 * orchestrator (the host's agent, which runs the workers assigned to this host; supervising on the
 * database host only), the services the placement puts here and a gateway to every host's instances.
 * Start: RabbitMQ and ZooKeeper (found or private),
 * then the first orchestrator (which starts the workers), the other orchestrators (standing by),
 * the users and rides instances and the gateway, each kept running (KeptService). Stop: the services in reverse order, then any worker of the cluster the
 * orchestrator left behind (it may have had to be killed after its grace), then the private
 * servers. Force: SIGKILL to every process group, every worker of the cluster, every private
 * server, at once.
 */
import { redactUrl } from '../shared/redact.ts';
import path from 'node:path';
import { ensureRabbitMq, ensureServerPackages, ensureZooKeeper, type ServerHandle } from '../infra/servers.ts';
import type { Config } from '../shared/config.ts';
import { entryPoint } from '../shared/entry-points.ts';
import type { Logger } from '../shared/logger.ts';
import { killClusterWorkers } from '../dbaas/runtime/worker-processes.ts';
import { KeptService, type RestartPolicy } from './KeptService.ts';
import { startHostServers } from '../infra/host-servers.ts';
import { clusterNodeUrl } from '../infra/rabbitmq-cluster-node.ts';
import { waitForDatabaseHost } from './database-host-ready.ts';
import type { HostPlan } from './host-plan.ts';
import { erlangCookieOf, rabbitPasswordOf } from './host-secrets.ts';
import { GATEWAY_SETTINGS, ORCHESTRATOR_SETTINGS, RIDES_SETTINGS, USERS_SETTINGS } from './settings-of-processes.ts';
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
  /** This host's share of a deployment across hosts; unset: the whole system on this machine. */
  host?: HostPlan;
}

/**
 * The RabbitMQ nodes a host's processes may use. On users or rides: its own node, then the database
 * host's; never the third host's. A process that went through the third host's node (its first
 * two refused or suspected for a while) stalled with that host: its publishes and its reply queue
 * were there, so every read and write of a spared host's orchestrator answered 503 while a host it
 * had nothing to do with was cut off, until its heartbeat noticed (10-15 s). Waiting for one of
 * its own two nodes costs nothing more: with both gone its host is cut off from the database host
 * anyway. On the database host: its own node, then the others, so that its node's loss alone (the
 * host up) does not hold every worker and the supervisor until the node is back.
 */
function ownAndDatabaseNodes(host: HostPlan, password: string): string {
  const order = host.isDatabaseHost ? [host.self, ...host.hosts] : [host.self, host.databaseHost];
  return order
    .filter((each, index, all) => all.indexOf(each) === index)
    .map((each) => clusterNodeUrl(each.address, password))
    .join(',');
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
      const { restoreOnFirstStart } = await import('../dbaas/backup/restore.ts');
      await restoreOnFirstStart({ backupFile: config.RESTORE_FROM, dataDir: config.DATA_DIR, logger: this.logger });
    }
    const { host } = this.options;
    const { rabbit, zookeeper } = host ? await this.startHostServers(host) : await this.findOrStartServers();
    const env = {
      AMQP_URL: rabbit.address,
      ZK_CONNECT: zookeeper.address,
      DATA_DIR: config.DATA_DIR,
      // Every instance learns every orchestrator and every upstream, whichever port it has itself;
      // across hosts, every host's (this host's orchestrator first).
      ORCHESTRATOR_URL: (host?.orchestratorUrls ?? config.ORCHESTRATOR_URLS).join(','),
      USERS_UPSTREAMS: (host?.usersUpstreams ?? config.USERS_UPSTREAMS).join(','),
      RIDES_UPSTREAMS: (host?.ridesUpstreams ?? config.RIDES_UPSTREAMS).join(','),
    };
    // Across hosts the servers bind every address by default, which the children's own default would not.
    const bind: Record<string, string> = host ? { BIND_HOST: config.BIND_HOST } : {};
    // …and the gateway checks the instances' health, which a silent host needs (upstream-group.ts).
    const gatewayChecks: Record<string, string> = host ? { UPSTREAM_CHECK_MS: String(config.UPSTREAM_CHECK_MS) } : {};
    // Across hosts: one orchestrator here (every host has its own), and the placement's services.
    const orchestratorPorts = host ? [config.ORCHESTRATOR_PORT] : config.ORCHESTRATOR_PORTS;
    // One instance of a placed service per host, on the port every host's gateway routes to.
    const placed = (runs: boolean, port: number) => (runs ? [port] : []);
    const usersPorts = host ? placed(host.runsUsers, config.USERS_PORT) : config.USERS_PORTS;
    const ridesPorts = host ? placed(host.runsRides, config.RIDES_PORT) : config.RIDES_PORTS;
    // Each runs the way this process does: compiled from dist/, or from src/ through tsx.
    // Each gets the addresses it needs and the settings it reads, nothing more (settings-of-processes.ts).
    const kept = (name: string, source: string, portVariable: string, port: number, own: ChildSettings, stopGraceMs?: number) =>
      new KeptService({
        name,
        entry: entryPoint(source),
        port,
        env: { ...own.env, [portVariable]: String(port) },
        inherit: own.inherit,
        stopGraceMs,
        logger: this.logger,
        restart: this.options.restart,
      });
    const instances = (name: string, source: string, portVariable: string, list: number[], own: ChildSettings, stopGraceMs?: number) =>
      list.map((port, index) => kept(list.length === 1 ? name : `${name}-${index + 1}`, source, portVariable, port, own, stopGraceMs));
    // Across hosts the database host's orchestrator supervises first, and only it restarts a
    // stopped cluster from files (they are on its host); the other hosts' orchestrators take over a
    // running cluster when it is lost (`takeover`), so losing the database host loses no
    // supervision. Every host's orchestrator is that host's agent: it starts, adopts and stops the
    // workers the supervisor assigns to its host.
    const supervises: Record<string, string> = host ? { ORCHESTRATOR_SUPERVISES: host.isDatabaseHost ? 'on' : 'takeover', AGENT_HOST: host.self.name } : {};
    // Across hosts the orchestrator, and the workers it runs, reach their own host's RabbitMQ node
    // first, then the database host's (ownAndDatabaseNodes): a slave reads the sync log from its own
    // host's replica of the stream, so losing the database host (or any other) costs no slave its
    // connection, and the slaves stay ready to be promoted. The third host's node is left out, so
    // that its loss touches no process of this host.
    const orchestratorAmqp = host ? ownAndDatabaseNodes(host, rabbitPasswordOf(config)) : env.AMQP_URL;
    const orchestratorSettings = {
      inherit: ORCHESTRATOR_SETTINGS,
      env: { ...bind, ...supervises, AMQP_URL: orchestratorAmqp, ZK_CONNECT: env.ZK_CONNECT, DATA_DIR: env.DATA_DIR, ORCHESTRATOR_URL: env.ORCHESTRATOR_URL },
    };
    const databaseClient = { ...bind, DATA_DIR: env.DATA_DIR, ORCHESTRATOR_URL: env.ORCHESTRATOR_URL };
    const [supervising, ...standbys] = instances('orchestrator', 'dbaas/orchestrator/main.ts', 'ORCHESTRATOR_PORT', orchestratorPorts, orchestratorSettings, config.ORCHESTRATOR_STOP_GRACE_MS);
    // The services need the orchestrator only when a request comes, and not each other to start.
    const gateway = kept('gateway', 'services/gateway/main.ts', 'GATEWAY_PORT', config.GATEWAY_PORT, {
      inherit: GATEWAY_SETTINGS,
      env: { ...bind, ...gatewayChecks, USERS_UPSTREAMS: env.USERS_UPSTREAMS, RIDES_UPSTREAMS: env.RIDES_UPSTREAMS },
    });
    const instancesOfServices = [
      ...standbys,
      ...instances('users', 'services/users/main.ts', 'USERS_PORT', usersPorts, { inherit: USERS_SETTINGS, env: databaseClient }),
      ...instances('rides', 'services/rides/main.ts', 'RIDES_PORT', ridesPorts, { inherit: RIDES_SETTINGS, env: databaseClient }),
    ];
    // Across hosts, the database host's processes declare the queues first (database-host-ready.ts).
    if (host && !host.isDatabaseHost) await waitForDatabaseHost(host.databaseOrchestratorUrl, this.logger, () => this.isStopping);
    // The first one starts alone: it takes the supervisor lease and starts the workers.
    await this.launch([supervising as KeptService]);
    // Together, the gateway last in the list: started first, across hosts it would find this host's
    // instances silent and leave them out for its first health checks.
    await this.launch([...instancesOfServices, gateway]);
    this.logger.info(
      {
        ...(host ? { host: host.self.name, placement: host.placement, services: [...(host.runsUsers ? ['users'] : []), ...(host.runsRides ? ['rides'] : [])] } : {}),
        gateway: config.GATEWAY_URL,
        orchestrators: env.ORCHESTRATOR_URL.split(','),
        rabbitmq: redactUrl(rabbit.address),
        zookeeper: zookeeper.address,
      },
      host ? `RideShare host ${host.self.name} is up` : 'RideShare is up',
    );
  }

  /** One machine: RabbitMQ and ZooKeeper found or started privately (src/infra/servers.ts). */
  private async findOrStartServers(): Promise<{ rabbit: ServerHandle; zookeeper: ServerHandle }> {
    const { config } = this.options;
    const rabbit = await ensureRabbitMq({ configuredUrl: config.AMQP_URL, dataDir: config.DATA_DIR, logger: this.logger });
    this.servers.push(rabbit);
    this.checkNotStopping();
    const zookeeper = await ensureZooKeeper({ configuredConnect: config.ZK_CONNECT, dataDir: config.DATA_DIR, logger: this.logger });
    this.servers.push(zookeeper);
    return { rabbit, zookeeper };
  }

  /** Across hosts: this host's RabbitMQ node and ZooKeeper server, once both are in with their peers. */
  private async startHostServers(host: HostPlan): Promise<{ rabbit: ServerHandle; zookeeper: ServerHandle }> {
    const { config } = this.options;
    await ensureServerPackages(this.logger);
    const servers = await startHostServers({
      self: host.self,
      hosts: host.hosts,
      dataDir: config.DATA_DIR,
      password: rabbitPasswordOf(config),
      cookie: erlangCookieOf(config),
      logger: this.logger,
      stopping: () => this.isStopping,
    });
    this.servers.push(servers.rabbit, servers.zookeeper);
    this.checkNotStopping();
    return servers;
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
    // Across hosts only this host's workers: a test bed's hosts share one machine's processes.
    const killed = await killClusterWorkers(cluster, { graceMs, thisNetworkNamespaceOnly: this.options.host !== undefined });
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
