/**
 * The harness's own look at a cluster's znodes: registered workers, the desired slaves and the
 * supervisor lease. Its ZooKeeper session must outlive the faults it watches (a frozen or
 * restarted ZooKeeper), so it uses a long session and starts a fresh client whenever the old
 * one expired or could not connect, instead of failing for the rest of the test.
 */
import { listWorkers } from '../../../src/dbaas/coordination/WorkerRegistry.ts';
import { isZkError, ZkClient, ZkErrorCode } from '../../../src/dbaas/coordination/ZkClient.ts';
import { clusterPaths, type WorkerInfo } from '../../../src/dbaas/protocol/names.ts';

export interface SupervisorHolder {
  orchestratorId: string;
  pid: number;
}

const SESSION_TIMEOUT_MS = 15_000;
const OPERATION_TIMEOUT_MS = 2000;

export class ClusterInspector {
  private client: ZkClient | undefined;
  private connecting: Promise<ZkClient> | undefined;
  private closed = false;

  constructor(
    private readonly zkConnect: string,
    private cluster: string,
  ) {}

  /** A new cluster after a harness reset: same ZooKeeper, other znodes. */
  switchCluster(cluster: string): void {
    this.cluster = cluster;
  }

  async workers(): Promise<WorkerInfo[]> {
    return listWorkers(await this.zk(), this.cluster);
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
    const zk = await this.zk();
    const path = clusterPaths(this.cluster).desiredSlaves;
    await zk.ensurePath(path);
    await zk.setData(path, count);
  }

  close(): void {
    this.closed = true;
    this.client?.close();
    this.client = undefined;
  }

  private async read<T>(path: string): Promise<T | undefined> {
    try {
      return (await (await this.zk()).getData<T>(path)).data;
    } catch (error) {
      if (isZkError(error, ZkErrorCode.NO_NODE)) return undefined;
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
    const client = new ZkClient({ connect: this.zkConnect, sessionTimeoutMs: SESSION_TIMEOUT_MS, operationTimeoutMs: OPERATION_TIMEOUT_MS });
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
