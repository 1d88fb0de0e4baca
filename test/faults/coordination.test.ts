/**
 * Faults of what coordinates the workers, with two orchestrator processes on one cluster:
 * ZooKeeper frozen for less and for more than the session timeout (SIGSTOP of its JVM) and
 * restarted on the same data and port; the supervising orchestrator SIGKILLed while it launches
 * a worker and while it runs a failover (the process manager then restarts it), and SIGKILLed
 * with its restart held until the standby has taken over. Every process reaches ZooKeeper and
 * RabbitMQ through proxies, so the supervising orchestrator can be cut off one of them but not the
 * other; and one orchestrator's wall clock is stepped 30 s either way (a fake clock it is started
 * with, harness/faults/clock-offset.ts). The rolling upgrade from the previous protocol version
 * (kind `rolling-upgrade`, harness/faults/upgrade-faults.ts) runs in the soak (`npm run soak`):
 * here test/operate/rolling-upgrade.test.ts upgrades under load with every acknowledged write
 * checked on every replica, which this kind's round repeated at 27 s of the suite.
 */
import { faultSuite } from '../../harness/faults/suite.ts';

faultSuite('coordination faults', { label: 'coordination', orchestrators: 2, brokerProxy: true, zkProxy: true }, [
  'zookeeper-stop-short',
  'zookeeper-stop-long',
  'zookeeper-restart',
  'orchestrator-kill-launch',
  'orchestrator-kill-failover',
  'standby-takeover',
  'orchestrator-zk-cut',
  'orchestrator-amqp-only-cut',
  'clock-step',
]);
