/**
 * The cluster status as a feed: one poller shared by every subscriber (the console's streams),
 * running only while someone listens. It reads the status every `pollMs` and tells subscribers
 * only when it changed (the read's own timestamp aside), and reads again at once when supervision
 * records an event, so a failover shows without waiting for the next poll.
 */
import { RideShareError } from '../../../shared/errors.ts';

export type FeedMessage<T> = { kind: 'status'; status: T } | { kind: 'error'; message: string };
export type FeedListener<T> = (message: FeedMessage<T>) => void;

/** What announces a change worth a read now (the supervision journal's 'event'). */
export interface ChangeSource {
  on(event: 'event', listener: () => void): unknown;
  off(event: 'event', listener: () => void): unknown;
}

export interface ClusterFeedOptions<T> {
  read(): Promise<T>;
  pollMs: number;
  changes?: ChangeSource;
}

/** A journal event is told before its history append lands in ZooKeeper: read a moment later. */
const AFTER_CHANGE_MS = 60;

export class ClusterFeed<T extends object> {
  private readonly listeners = new Set<FeedListener<T>>();
  private last: { fingerprint: string; message: FeedMessage<T> } | undefined;
  private poller: NodeJS.Timeout | undefined;
  private nudge: NodeJS.Timeout | undefined;
  private reading = false;
  private readAgain = false;
  private closed = false;
  private readonly onChange = (): void => {
    if (this.listeners.size === 0 || this.nudge) return;
    this.nudge = setTimeout(() => {
      this.nudge = undefined;
      void this.refresh();
    }, AFTER_CHANGE_MS);
  };

  constructor(private readonly options: ClusterFeedOptions<T>) {
    options.changes?.on('event', this.onChange);
  }

  get subscribers(): number {
    return this.listeners.size;
  }

  /** Tells `listener` the latest status at once (or as soon as the first read ends), then every change. */
  subscribe(listener: FeedListener<T>): () => void {
    if (this.closed) throw new RideShareError('INVALID_STATE', 'the cluster feed is closed');
    this.listeners.add(listener);
    if (this.last) listener(this.last.message);
    if (this.listeners.size === 1) this.startPolling();
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stopPolling();
    };
  }

  close(): void {
    this.closed = true;
    this.listeners.clear();
    this.stopPolling();
    this.options.changes?.off('event', this.onChange);
  }

  private startPolling(): void {
    void this.refresh();
    this.poller = setInterval(() => void this.refresh(), this.options.pollMs);
  }

  private stopPolling(): void {
    clearInterval(this.poller);
    clearTimeout(this.nudge);
    this.poller = undefined;
    this.nudge = undefined;
    // Nobody watched in between: the next subscriber must not be told a stale status as news.
    this.last = undefined;
  }

  /** One read at a time; a refresh asked for during a read runs right after it. */
  private async refresh(): Promise<void> {
    if (this.reading) {
      this.readAgain = true;
      return;
    }
    this.reading = true;
    try {
      do {
        this.readAgain = false;
        this.publish(await this.readOnce());
      } while (this.readAgain && this.listeners.size > 0);
    } finally {
      this.reading = false;
    }
  }

  private async readOnce(): Promise<FeedMessage<T>> {
    try {
      return { kind: 'status', status: await this.options.read() };
    } catch (error) {
      // biome-ignore lint/nursery/noBaseToString: a caught value is unknown; String() is the deliberate text for a non-Error throw
      return { kind: 'error', message: error instanceof Error ? error.message : String(error) };
    }
  }

  private publish(message: FeedMessage<T>): void {
    if (this.listeners.size === 0) return;
    const fingerprint = JSON.stringify(message.kind === 'status' ? { ...message.status, at: undefined } : message);
    if (fingerprint === this.last?.fingerprint) return;
    this.last = { fingerprint, message };
    for (const listener of [...this.listeners]) listener(message);
  }
}
