/**
 * RabbitMQ faults: the broker SIGKILLed under load and restarted on the same port and data, and
 * one worker's link to it slowed or reset, or (with FAULTS_SLOW=1, and always in the soak)
 * black-holed past two heartbeats. Every process reaches the broker through the test's TCP proxy
 * (transparent unless told otherwise); a link fault singles out one worker's connections by the
 * pid that owns them; the orchestrator's own links are reset and slowed the same way. A RabbitMQ
 * resource alarm (memory or disk) blocks every publisher past the RPC deadline, then is lifted.
 */
import { faultSuite } from '../../harness/faults/suite.ts';

faultSuite(
  'broker faults',
  { label: 'broker', orchestrators: 1, brokerProxy: true },
  ['rabbitmq-kill', 'link-slow', 'link-cut', 'link-blackhole', 'broker-alarm', 'orchestrator-link-cut', 'orchestrator-link-slow'],
  {
    slow: ['link-blackhole'],
  },
);
