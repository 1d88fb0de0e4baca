/**
 * Several orchestrators may serve one cluster; exactly one of them supervises (starts, replaces
 * and scales workers). The lease is the ephemeral /supervisor znode: whoever creates it holds it
 * for as long as its ZooKeeper session lives; the others wait for it to vanish.
 */
import { clusterPaths } from '../protocol/names.ts';
import { CreateMode, isZkError, ZkErrorCode, type ZkClient } from './ZkClient.ts';

export interface SupervisorRecord {
  orchestratorId: string;
  pid: number;
  url?: string;
}

export class SupervisorLease {
  private readonly path: string;
  private readonly root: string;
  private cancelled = false;
  private wake: (() => void) | undefined;

  constructor(
    private readonly zk: ZkClient,
    cluster: string,
    private readonly me: SupervisorRecord,
  ) {
    const paths = clusterPaths(cluster);
    this.path = paths.supervisor;
    this.root = paths.root;
  }

  /** One attempt: true when this orchestrator now holds the lease. */
  async tryAcquire(): Promise<boolean> {
    await this.zk.ensurePath(this.root);
    try {
      await this.zk.create(this.path, this.me, CreateMode.EPHEMERAL);
      return true;
    } catch (error) {
      if (isZkError(error, ZkErrorCode.NODE_EXISTS)) return false;
      throw error;
    }
  }

  /** Resolves once the lease is ours; false if cancelled first. */
  async acquire(): Promise<boolean> {
    while (!this.cancelled) {
      if (await this.tryAcquire()) return true;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        this.zk.exists(this.path, () => resolve()).then((stat) => stat ?? resolve(), () => setTimeout(resolve, 500));
      });
    }
    return false;
  }

  holder(): Promise<SupervisorRecord | undefined> {
    return this.zk.getData<SupervisorRecord>(this.path).then(
      (node) => node.data,
      (error: unknown) => {
        if (isZkError(error, ZkErrorCode.NO_NODE)) return undefined;
        throw error;
      },
    );
  }

  cancel(): void {
    this.cancelled = true;
    this.wake?.();
  }
}
