/**
 * Faults of the workers themselves, on private servers and an orchestrator process: the four
 * faults of test/chaos (crash APIs, an outside SIGKILL, a frozen master), every worker killed a
 * few milliseconds apart, and a promotion candidate frozen while the master dies.
 */
import { faultSuite } from '../../harness/faults/suite.ts';

faultSuite('worker faults', { label: 'workers', orchestrators: 1, brokerProxy: false }, [
  'crash-master',
  'crash-slave',
  'kill-worker',
  'stop-master',
  'kill-all-workers',
  'frozen-candidate',
]);
