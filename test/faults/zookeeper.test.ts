/**
 * ZooKeeper faults: frozen for less and for more than the session timeout (SIGSTOP of its JVM),
 * and stopped and started again on the same data directory and port.
 */
import { faultSuite } from '../helpers/faults/suite.ts';

faultSuite('ZooKeeper faults', { label: 'zookeeper', orchestrators: 1, brokerProxy: false }, ['zookeeper-stop-short', 'zookeeper-stop-long', 'zookeeper-restart']);
