/**
 * The harness's own look at a cluster's znodes: registered workers, the desired slaves and the
 * supervisor lease. Its ZooKeeper session must outlive the faults it watches (a frozen or
 * restarted ZooKeeper), so it uses a long session and starts a fresh client whenever the old
 * one expired, could not connect, or stopped answering: node-zookeeper-client has no timeout
 * between its TCP connect and the server's handshake reply, and a connection accepted while a
 * restarted ZooKeeper boots is never answered, so the client would wait for ever.
 */
import { listWorkers, type WorkerInfo } from '../../src/dbaas/coordination/worker-registry.ts';
import { isZkError, ZkClient, ZkErrorCode, type ZkCredentials } from '../../src/dbaas/coordination/ZkClient.ts';
import { clusterPaths } from '../../src/dbaas/protocol/names.ts';

export interface SupervisorHolder {
  orchestratorId: string;
  pid: number;
}

const SESSION_TIMEOUT_MS = 15_000;
const OPERATION_TIMEOUT_MS = 2000;
/** Operations timing out in a row before the client is given up for a new one. */
const TIMEOUTS_BEFORE_NEW_CLIENT = 2;

export class ClusterInspector {
  private client: ZkClient | undefined;
  private connecting: Promise<ZkClient> | undefined;
  private closed = false;
  private timeoutsInARow = 0;

  constructor(
    private readonly zkConnect: string,
    private cluster: string,
    /** The clusters' ZooKeeper credentials: setDesiredSlaves changes one of their znodes. */
    private readonly credentials: ZkCredentials,
  ) {}

  /** A new cluster after a harness reset: same ZooKeeper, other znodes. */
  switchCluster(cluster: string): void {
    this.cluster = cluster;
  }

  async workers(): Promise<WorkerInfo[]> {
    return this.op((zk) => listWorkers(zk, this.cluster));
  }

  async supervisor(): Promise<SupervisorHolder | undefined> {
    return this.read<SupervisorHolder>(clusterPaths(this.cluster).supervisor);
  }

  async desiredSlaves(): Promise<number | undefined> {
    return this.read<number>(clusterPaths(this.cluster).desiredSlaves);
  }

  /**
   * `npm start`'s orchestrator starts one slave and offers no setting for more; the autoscaler
   * sets this node in production, and the tests set it in its place (their scaling window never ends).
   */
  async setDesiredSlaves(count: number): Promise<void> {
    const path = clusterPaths(this.cluster).desiredSlaves;
    await this.op(async (zk) => {
      await zk.ensurePath(path);
      await zk.setData(path, count);
    });
  }

  close(): void {
    this.closed = true;
    this.client?.close();
    this.client = undefined;
  }

  private async read<T>(path: string): Promise<T | undefined> {
    try {
      return await this.op(async (zk) => (await zk.getData<T>(path)).data);
    } catch (error) {
      if (isZkError(error, ZkErrorCode.NO_NODE)) return undefined;
      throw error;
    }
  }

  private async op<T>(action: (zk: ZkClient) => Promise<T>): Promise<T> {
    const zk = await this.zk();
    try {
      const result = await action(zk);
      this.timeoutsInARow = 0;
      return result;
    } catch (error) {
      // biome-ignore lint/nursery/noBaseToString: a caught value is unknown; String() is the deliberate text for a non-Error throw
      if (/timed out/.test(String(error)) && ++this.timeoutsInARow >= TIMEOUTS_BEFORE_NEW_CLIENT && this.client === zk) {
        this.timeoutsInARow = 0;
        this.client = undefined;
        zk.close();
      }
      throw error;
    }
  }

  private zk(): Promise<ZkClient> {
    if (this.closed) return Promise.reject(new Error('the inspector is closed'));
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= this.connect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async connect(): Promise<ZkClient> {
    const client = new ZkClient({ connect: this.zkConnect, sessionTimeoutMs: SESSION_TIMEOUT_MS, operationTimeoutMs: OPERATION_TIMEOUT_MS, credentials: this.credentials });
    client.on('expired', () => {
      if (this.client === client) this.client = undefined;
      client.close();
    });
    try {
      await client.connect();
    } catch (error) {
      client.close();
      throw error;
    }
    this.client = client;
    return client;
  }
}
