/**
 * `npm start`: the whole system on this machine. Finds or starts RabbitMQ and ZooKeeper, then
 * starts the orchestrator (which starts one master and one slave), the users and rides services
 * and the gateway, each as its own process. SIGINT/SIGTERM stops everything it started, in
 * reverse order, private servers included.
 */
import path from 'node:path';
import { ensureRabbitMq, ensureZooKeeper, type ServerHandle } from './infra/servers.ts';
import { ConfigError, describeConfig, loadConfig } from './shared/config.ts';
import { createLogger } from './shared/logger.ts';
import { ServiceProcess } from './system/ServiceProcess.ts';

const logger = createLogger('rideshare');

async function main(): Promise<void> {
  const config = loadConfig();
  logger.info({ config: describeConfig(config) }, 'starting RideShare');
  const servers: ServerHandle[] = [];
  const services: ServiceProcess[] = [];
  let stopping = false;

  const stopAll = async (exitCode: number): Promise<never> => {
    stopping = true;
    for (const service of [...services].reverse()) await service.stop();
    for (const server of [...servers].reverse()) await server.stop().catch((error: unknown) => logger.error({ err: error }, 'server stop failed'));
    logger.info('stopped');
    process.exit(exitCode);
  };
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) process.exit(1);
    signalled = true;
    logger.info({ signal }, 'stopping RideShare');
    void stopAll(0);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  watchParent(() => onSignal('SIGHUP'));

  try {
    const serverDir = path.join(config.DATA_DIR);
    const rabbit = await ensureRabbitMq({ configuredUrl: config.AMQP_URL, dataDir: serverDir, logger });
    servers.push(rabbit);
    const zookeeper = await ensureZooKeeper({ configuredConnect: config.ZK_CONNECT, dataDir: serverDir, logger });
    servers.push(zookeeper);
    const env = { AMQP_URL: rabbit.address, ZK_CONNECT: zookeeper.address, DATA_DIR: config.DATA_DIR };
    const plan: ServiceProcess[] = [
      new ServiceProcess({ name: 'orchestrator', entry: 'src/dbaas/orchestrator/main.ts', port: config.ORCHESTRATOR_PORT, env, stopGraceMs: 15_000 }),
      new ServiceProcess({ name: 'users', entry: 'src/services/users/main.ts', port: config.USERS_PORT, env }),
      new ServiceProcess({ name: 'rides', entry: 'src/services/rides/main.ts', port: config.RIDES_PORT, env }),
      new ServiceProcess({ name: 'gateway', entry: 'src/services/gateway/main.ts', port: config.GATEWAY_PORT, env }),
    ];
    for (const service of plan) {
      services.push(service);
      await service.start((name, code) => {
        if (stopping) return;
        logger.fatal({ service: name, code }, 'a service exited; stopping RideShare');
        void stopAll(1);
      });
    }
    logger.info(
      { gateway: config.GATEWAY_URL, orchestrator: config.ORCHESTRATOR_URL, rabbitmq: rabbit.address.replace(/:[^:@/]*@/, ':***@'), zookeeper: zookeeper.address },
      'RideShare is up',
    );
  } catch (error) {
    logger.fatal({ err: error }, 'start-up failed');
    await stopAll(1);
  }
}

/**
 * `npm start` runs us under npm, and npm, when it is itself sent SIGTERM, exits without passing
 * the signal on. Losing our parent is therefore treated like a SIGTERM: nothing is left behind.
 */
function watchParent(onOrphaned: () => void): void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    logger.warn({ parent }, 'the parent process is gone');
    onOrphaned();
  }, 500);
  timer.unref();
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) logger.fatal(error.message);
  else logger.fatal({ err: error }, 'RideShare failed');
  process.exit(1);
});
