/**
 * Orchestrator faults, with two orchestrator processes on one cluster: the supervising one
 * SIGKILLed while it launches a worker and while it runs a failover (the process manager then
 * restarts it), and SIGKILLed with its restart held until the standby has taken over.
 */
import { faultSuite } from '../helpers/faults/suite.ts';

faultSuite('orchestrator faults', { label: 'orchestrators', orchestrators: 2, brokerProxy: false }, [
  'orchestrator-kill-launch',
  'orchestrator-kill-failover',
  'standby-takeover',
]);
