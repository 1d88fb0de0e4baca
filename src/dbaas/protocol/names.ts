/**
 * Every RabbitMQ name and ZooKeeper path of one cluster. RIDESHARE_CLUSTER prefixes them all, so
 * several clusters (a test run beside `npm start`, say) share one broker and one ZooKeeper safely.
 */

export interface ClusterNames {
  readQ: string;
  writeQ: string;
  /** Fanout exchange carrying every applied write to the sync log. */
  syncExchange: string;
  /**
   * The sync log: a RabbitMQ stream bound to syncExchange, replicated on every node of the
   * broker's cluster. Every replica reads it from where it joined (src/dbaas/replication/SyncFollower.ts).
   */
  syncLog: string;
  /**
   * The exchange one epoch's master publishes to, bound to syncExchange. A new master deletes
   * the older epochs' exchanges before it takes writes, so an old master's publish can no longer
   * be routed or confirmed (fencing at the broker, whether or not the old master is dead).
   */
  syncEpochExchange(epoch: number): string;
  /** Snapshot requests from new replicas; caught-up slaves take them before the master does. */
  snapshotQ: string;
  /** Messages the workers refused to execute, kept for an operator (src/dbaas/transport/RefusedMessages.ts). */
  refusedQ: string;
  /** Where the broker dead-letters what the queues give up on; only delivery-limit dead letters reach refusedQ. */
  deadLetterExchange: string;
  /** The request queues (quorum queues: readQ, writeQ, snapshotQ, refused); the sync log aside. */
  allQueues(): string[];
}

export function clusterNames(cluster: string): ClusterNames {
  const names = {
    readQ: `${cluster}.readQ`,
    writeQ: `${cluster}.writeQ`,
    syncExchange: `${cluster}.syncQ`,
    syncLog: `${cluster}.syncLog`,
    snapshotQ: `${cluster}.snapshotQ`,
    refusedQ: `${cluster}.refused`,
    deadLetterExchange: `${cluster}.dead-letters`,
  };
  return {
    ...names,
    syncEpochExchange: (epoch) => `${cluster}.syncQ.epoch-${epoch}`,
    allQueues: () => [names.readQ, names.writeQ, names.snapshotQ, names.refusedQ],
  };
}

/** The parent of every cluster's znodes on a ZooKeeper server (clusters may share a server). */
export const ZK_BASE = '/rideshare';

export interface ClusterPaths {
  root: string;
  workers: string;
  workerNode(workerId: string): string;
  /** Ephemeral: `{workerId, pid, epoch}` of the one master; only one create can succeed. */
  master: string;
  /** Persistent: the highest epoch ever granted. */
  epoch: string;
  /** Persistent: `{epoch, seq}`, every write up to seq may be answered; written only while /epoch is at the master's version. */
  committed: string;
  /** Persistent: how many slaves the supervisor keeps. */
  desiredSlaves: string;
  /** Persistent: `{workerId, epoch}` the supervisor asks to become master. */
  promotion: string;
  /** Ephemeral: the orchestrator currently supervising. */
  supervisor: string;
  /** Persistent, one child per orchestrator: the db/read requests it has received in all. */
  readCounts: string;
  /** One ephemeral child per running orchestrator: `{orchestratorId, pid, url, startedAt}`. */
  orchestrators: string;
  orchestratorNode(orchestratorId: string): string;
  /** Persistent: the last supervision events (failovers, replacements, scaling), newest last. */
  history: string;
  /** Persistent: every folder, by host, where a supervisor of this cluster keeps workers' files. */
  workerDirs: string;
  /** Persistent, one child per worker, written by the supervisor: the host that runs it (coordination/assignments.ts). */
  assignments: string;
  assignmentNode(workerId: string): string;
  /** One ephemeral child per host, written by that host's agent: the workers running there. */
  agents: string;
  agentNode(host: string): string;
  /** Persistent, written by every process now and then for the time the ensemble gives the write (coordination/ClusterClock.ts). */
  clock: string;
}

export function clusterPaths(cluster: string): ClusterPaths {
  const root = `${ZK_BASE}/${cluster}`;
  return {
    root,
    workers: `${root}/workers`,
    workerNode: (workerId) => `${root}/workers/${workerId}`,
    master: `${root}/master`,
    epoch: `${root}/epoch`,
    committed: `${root}/committed`,
    desiredSlaves: `${root}/desired-slaves`,
    promotion: `${root}/promotion`,
    supervisor: `${root}/supervisor`,
    readCounts: `${root}/read-counts`,
    orchestrators: `${root}/orchestrators`,
    orchestratorNode: (orchestratorId) => `${root}/orchestrators/${orchestratorId}`,
    history: `${root}/history`,
    clock: `${root}/clock`,
    workerDirs: `${root}/worker-dirs`,
    assignments: `${root}/assignments`,
    assignmentNode: (workerId) => `${root}/assignments/${workerId}`,
    agents: `${root}/agents`,
    agentNode: (host) => `${root}/agents/${host}`,
  };
}
