/**
 * What makes a process one of a cluster's: its name, the servers it meets the others on, the key
 * its messages are signed with and its ZooKeeper credentials. Every orchestrator and every worker
 * of the cluster holds the same; the orchestrator's configuration is where they come from.
 */
import { clusterKeyFor, ConfigError, zkCredentialsFor, type Config } from '../../shared/config.ts';
import type { ZkCredentials } from '../coordination/zk-acl.ts';

export interface ClusterSettings {
  /** RIDESHARE_CLUSTER: prefixes the cluster's queues and znodes. */
  cluster: string;
  /** RabbitMQ: one URL, or several nodes of one broker cluster comma-separated. */
  amqpUrl: string;
  zkConnect: string;
  /** Signs and checks every message on RabbitMQ (src/dbaas/transport/signing.ts). */
  clusterKey: string;
  /** Only they may change the cluster's znodes (src/dbaas/coordination/zk-acl.ts). */
  zkAuth: ZkCredentials;
}

/**
 * The cluster's settings from the configuration. The servers are optional for `npm start` (it
 * finds or starts them) but not for a process of the database service, which is refused here.
 */
export function clusterSettingsFrom(config: Config): ClusterSettings {
  if (!config.AMQP_URL || !config.ZK_CONNECT) {
    throw new ConfigError('invalid settings: AMQP_URL and ZK_CONNECT must be set (npm start finds or starts the servers and sets them)');
  }
  return {
    cluster: config.RIDESHARE_CLUSTER,
    amqpUrl: config.AMQP_URL,
    zkConnect: config.ZK_CONNECT,
    clusterKey: clusterKeyFor(config),
    zkAuth: zkCredentialsFor(config),
  };
}
