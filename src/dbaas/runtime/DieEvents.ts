/**
 * The Docker engine's 'die' events for one cluster's containers, as one long-lived stream: a die
 * event is the engine confirming an exit. A broken stream is re-established from where it broke
 * (`since`), so deaths in the gap are replayed; the owner then checks what it tracks once more.
 */
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import type { Logger } from '../../shared/logger.ts';

const RECONNECT_MS = 1000;

export interface DieEventsOptions {
  /** A client without a timeout: the stream is meant to last. */
  docker: Docker;
  /** `key=value`: only containers carrying this label. */
  label: string;
  logger: Logger;
  onDie(containerId: string, exitCode: number | null): void;
  /** After a reconnection. */
  onResumed(): Promise<void>;
  /** Whether a broken stream is worth re-establishing (anything left to watch). */
  wanted(): boolean;
}

export class DieEvents {
  private stream: Readable | undefined;
  private watching: Promise<void> | undefined;
  private lastEventSeconds = 0;

  constructor(private readonly options: DieEventsOptions) {}

  /** Subscribes, once; resolves when the stream is open. */
  watch(): Promise<void> {
    this.watching ??= this.subscribe().catch((error: unknown) => {
      this.watching = undefined;
      throw error;
    });
    return this.watching;
  }

  close(): void {
    const stream = this.stream;
    this.stream = undefined;
    this.watching = undefined;
    stream?.destroy();
  }

  private async subscribe(): Promise<void> {
    const stream = (await this.options.docker.getEvents({
      ...(this.lastEventSeconds ? { since: this.lastEventSeconds } : {}),
      filters: { type: ['container'], event: ['die'], label: [this.options.label] },
    })) as Readable;
    this.stream = stream;
    let pending = '';
    stream.on('data', (chunk: Buffer) => {
      const lines = (pending + chunk.toString('utf8')).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) this.onEvent(line);
    });
    const broken = () => {
      if (this.stream !== stream) return; // closed on purpose, or already replaced
      this.stream = undefined;
      this.watching = undefined;
      this.options.logger.warn('lost the Docker event stream; reconnecting');
      setTimeout(() => void this.resubscribe(), RECONNECT_MS).unref();
    };
    for (const event of ['error', 'close', 'end']) stream.once(event, broken);
  }

  private async resubscribe(): Promise<void> {
    if (this.watching || !this.options.wanted()) return;
    try {
      await this.watch();
    } catch (error) {
      this.options.logger.warn({ err: error }, 'Docker engine not answering; retrying');
      setTimeout(() => void this.resubscribe(), RECONNECT_MS).unref();
      return;
    }
    await this.options.onResumed();
  }

  private onEvent(line: string): void {
    let event: { id?: string; Action?: string; time?: number; Actor?: { Attributes?: Record<string, string> } };
    try {
      event = JSON.parse(line);
    } catch {
      return;
    }
    if (event.time) this.lastEventSeconds = event.time;
    if (event.Action !== 'die' || !event.id) return;
    const code = event.Actor?.Attributes?.exitCode;
    this.options.onDie(event.id, code === undefined ? null : Number(code));
  }
}
