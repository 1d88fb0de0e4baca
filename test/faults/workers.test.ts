/**
 * Faults of the workers themselves, on private servers and an orchestrator process: the four
 * faults of test/chaos (crash APIs, an outside SIGKILL, a frozen master), every worker killed a
 * few milliseconds apart, a promotion candidate frozen while the master dies, the workers' disk
 * (a small tmpfs under DATA_DIR/workers) filled until SQLite fails, and clients that send one
 * X-Request-Id on every write.
 */
import { WORKERS_DISK_BYTES } from '../../harness/faults/small-disk.ts';
import { faultSuite } from '../../harness/faults/suite.ts';

faultSuite('worker faults', { label: 'workers', orchestrators: 1, brokerProxy: false, workersDiskBytes: WORKERS_DISK_BYTES }, [
  'crash-master',
  'crash-slave',
  'kill-worker',
  'stop-master',
  'kill-all-workers',
  'frozen-candidate',
  'disk-full',
  'same-request-id',
]);
