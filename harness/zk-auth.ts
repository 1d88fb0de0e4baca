/** The ZooKeeper credentials of tests that start workers themselves (an orchestrator hands out its cluster's own). */
import type { ZkCredentials } from '../src/dbaas/coordination/ZkClient.ts';

export const TEST_ZK_AUTH: ZkCredentials = { user: 'rideshare-test', password: 'test-digest-not-a-secret' };
