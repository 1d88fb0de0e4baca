/**
 * What one host of a deployment across hosts runs, and where its peers are (docs/hosts.md). Every
 * host runs a RabbitMQ node, a ZooKeeper server, an orchestrator and a gateway; the placement says
 * which hosts run the users and the rides services, and which host's orchestrator is meant to
 * supervise first (so the database's workers start there, and the queues live on its RabbitMQ node).
 *
 * RIDESHARE_HOSTS names the hosts in order, each `name` or `name=address`:
 * - `seed`: the users service on the first host, rides on the second, the database on the third
 *   (the seed's hosts users, rides, db);
 * - `ha`: users and rides both on the first and the second host, the database on the third, so
 *   losing any host that holds no master loses no route.
 * Every gateway routes to every instance of each service on every host; every service calls its
 * own host's orchestrator first, then the others.
 */
import { isIP } from 'node:net';
import type { Config } from '../shared/config.ts';
import { ConfigError } from '../shared/config.ts';

export type Placement = 'seed' | 'ha';

export interface HostAddress {
  /** The host's name: its RabbitMQ node is rabbit@<name>, so every host must resolve it. */
  name: string;
  /** How the others reach it over HTTP, AMQP and ZooKeeper: an IP address, or the name itself. */
  address: string;
}

export interface HostPlan {
  self: HostAddress;
  /** Every host, this one included, in the order of RIDESHARE_HOSTS. */
  hosts: HostAddress[];
  placement: Placement;
  /** Hosts that run a users instance / a rides instance. */
  usersHosts: HostAddress[];
  ridesHosts: HostAddress[];
  /** The host whose orchestrator supervises first: the workers start there. */
  databaseHost: HostAddress;
  runsUsers: boolean;
  runsRides: boolean;
  isDatabaseHost: boolean;
  /** The database host's orchestrator, which the others wait for (database-host-ready.ts). */
  databaseOrchestratorUrl: string;
  /** Every orchestrator, this host's first: what ORCHESTRATOR_URL holds for its services. */
  orchestratorUrls: string[];
  usersUpstreams: string[];
  ridesUpstreams: string[];
}

const HOST_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** The deployment is three hosts: a ZooKeeper and a RabbitMQ majority survive the loss of any one. */
const HOST_COUNT = 3;

function problem(message: string): ConfigError {
  return new ConfigError(`invalid settings: ${message}`);
}

/** `users=10.0.0.1,rides=10.0.0.2,db` → hosts; names checked, no name twice. */
export function parseHostList(text: string): HostAddress[] {
  const hosts = text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '')
    .map((item): HostAddress => {
      const [name = '', address, ...rest] = item.split('=').map((part) => part.trim());
      if (rest.length > 0 || !HOST_NAME.test(name)) throw problem(`RIDESHARE_HOSTS: '${item}' is not name or name=address (a name of lower-case letters, digits and -)`);
      if (address !== undefined && !(isIP(address) || HOST_NAME.test(address) || /^[a-z0-9.-]{1,253}$/i.test(address))) throw problem(`RIDESHARE_HOSTS: '${address}' is not an address`);
      return { name, address: address === undefined || address === '' ? name : address };
    });
  if (hosts.length !== HOST_COUNT) throw problem(`RIDESHARE_HOSTS: ${HOST_COUNT} hosts are needed, ${hosts.length} given`);
  if (new Set(hosts.map((host) => host.name)).size !== hosts.length) throw problem('RIDESHARE_HOSTS: a host is named twice');
  return hosts;
}

/** The plan of this host when RIDESHARE_HOST is set; undefined for the single-host system. */
export function hostPlanFrom(config: Config): HostPlan | undefined {
  if (config.RIDESHARE_HOST === undefined) {
    if (config.RIDESHARE_HOSTS !== undefined) throw problem('RIDESHARE_HOSTS is set but not RIDESHARE_HOST (or --host): which host is this?');
    return undefined;
  }
  if (config.RIDESHARE_HOSTS === undefined) throw problem('RIDESHARE_HOST is set: RIDESHARE_HOSTS must name every host');
  // Across hosts the servers are this host's RabbitMQ node and ZooKeeper server, nothing found or given.
  for (const name of ['AMQP_URL', 'ZK_CONNECT'] as const) {
    if (config[name] !== undefined) throw problem(`${name} is decided by the host plan across hosts (docs/hosts.md): unset it`);
  }
  const hosts = parseHostList(config.RIDESHARE_HOSTS);
  const self = hosts.find((host) => host.name === config.RIDESHARE_HOST);
  if (!self) throw problem(`RIDESHARE_HOST: '${config.RIDESHARE_HOST}' is not one of RIDESHARE_HOSTS (${hosts.map((host) => host.name).join(', ')})`);
  const [first, second, third] = hosts as [HostAddress, HostAddress, HostAddress];
  const placement = config.RIDESHARE_PLACEMENT;
  const usersHosts = placement === 'seed' ? [first] : [first, second];
  const ridesHosts = placement === 'seed' ? [second] : [second, first];
  const url = (host: HostAddress, port: number) => `http://${host.address.includes(':') ? `[${host.address}]` : host.address}:${port}`;
  const selfFirst = [self, ...hosts.filter((host) => host !== self)];
  return {
    self,
    hosts,
    placement,
    usersHosts,
    ridesHosts,
    databaseHost: third,
    runsUsers: usersHosts.includes(self),
    runsRides: ridesHosts.includes(self),
    isDatabaseHost: self === third,
    databaseOrchestratorUrl: url(third, config.ORCHESTRATOR_PORT),
    orchestratorUrls: selfFirst.map((host) => url(host, config.ORCHESTRATOR_PORT)),
    usersUpstreams: usersHosts.map((host) => url(host, config.USERS_PORT)),
    ridesUpstreams: ridesHosts.map((host) => url(host, config.RIDES_PORT)),
  };
}
