/**
 * What supervision did, told once: each event goes to the cluster's history in ZooKeeper (every
 * orchestrator and the console show it) and to local listeners (the metrics). The supervisor,
 * the failover and the autoscaler record; nothing here decides anything.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../../shared/logger.ts';
import type { ClusterEvent, ClusterHistory, NewClusterEvent } from '../coordination/ClusterHistory.ts';

export class SupervisionJournal extends EventEmitter<{ event: [ClusterEvent] }> {
  constructor(
    private readonly history: ClusterHistory,
    private readonly logger: Logger,
  ) {
    super();
  }

  record(change: NewClusterEvent): void {
    const event = { at: new Date().toISOString(), ...change } as ClusterEvent;
    this.emit('event', event);
    this.history.append(event).catch((error: unknown) => this.logger.warn({ err: error, event }, 'could not keep a supervision event in the cluster history'));
  }
}
