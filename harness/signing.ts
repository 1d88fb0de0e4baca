/** The cluster key of tests that publish or consume the database service's messages themselves. */
import { MessageSigner } from '../src/dbaas/transport/signing.ts';

export const TEST_CLUSTER_KEY = 'test-cluster-key-not-a-secret';
export const testSigner = new MessageSigner(TEST_CLUSTER_KEY);
