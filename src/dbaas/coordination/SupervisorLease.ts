/**
 * Several orchestrators may serve one cluster; exactly one of them supervises (starts, replaces
 * and scales workers). The lease is the ephemeral /supervisor znode: whoever creates it holds it
 * for as long as its ZooKeeper session lives; the others wait for it to vanish.
 */
import { z } from 'zod';
import { RideShareError } from '../../shared/errors.ts';
import { clusterPaths } from '../protocol/names.ts';
import { id, looseRecord, pid } from './records.ts';
import { CreateMode, isZkError, ZkErrorCode, type ZkClient } from './ZkClient.ts';

const RETRY_MS = 500;

/** The cluster's znodes belong to other ZooKeeper credentials than this orchestrator's. */
export class ForeignCredentialsError extends RideShareError {
  constructor(root: string, cause: unknown) {
    super(
      'CONFLICT',
      `ZooKeeper refuses this orchestrator's credentials on ${root} (NO_AUTH): the cluster's znodes were made with other ` +
        'credentials (another ZK_AUTH, or the DATA_DIR/secrets/zookeeper.digest of another DATA_DIR). Start with those ' +
        '(ZK_AUTH=user:password), choose another RIDESHARE_CLUSTER, or have ZooKeeper\u2019s superuser delete ' +
        `${root} (docs/operations.md)`,
      { cause },
    );
  }
}

/** What /supervisor holds: the orchestrator that supervises, and where its API answers. */
const supervisorShape = z.object({ orchestratorId: id, pid, url: z.string().max(2000).optional() });
export type SupervisorRecord = z.infer<typeof supervisorShape>;
const supervisorRecord = looseRecord(supervisorShape);

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
      if (isZkError(error, ZkErrorCode.NO_AUTH)) throw new ForeignCredentialsError(this.root, error);
      throw error;
    }
  }

  /**
   * Resolves once the lease is ours; false if cancelled first. ZooKeeper errors (a session being
   * renewed, a server restarting) are waited out, never final: a standby must stay a standby.
   */
  async acquire(): Promise<boolean> {
    while (!this.cancelled) {
      try {
        if (await this.tryAcquire()) return true;
      } catch {
        await this.pause(RETRY_MS);
        continue;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        this.zk
          .exists(this.path, () => resolve())
          .then(
            (stat) => stat ?? resolve(),
            () => setTimeout(resolve, RETRY_MS),
          );
      });
    }
    return false;
  }

  /** Gives the lease up (when supervising could not start), so another orchestrator may take it. */
  async release(): Promise<void> {
    const node = await this.zk.readNodeIfExists(this.path, supervisorRecord);
    if (!node || node.data?.orchestratorId !== this.me.orchestratorId) return;
    await this.zk.removeIfExists(this.path, node.version);
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      setTimeout(resolve, ms);
    });
  }

  async holder(): Promise<SupervisorRecord | undefined> {
    return (await this.zk.readNodeIfExists(this.path, supervisorRecord))?.data;
  }

  /**
   * Ends the current wait and tries again at once: after a renewed session the watch set in the
   * old one will never fire.
   */
  retryNow(): void {
    this.wake?.();
  }

  cancel(): void {
    this.cancelled = true;
    this.wake?.();
  }
}
