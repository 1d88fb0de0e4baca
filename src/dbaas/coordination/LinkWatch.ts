/**
 * Notices a ZooKeeper link that went silent. node-zookeeper-client pings only when its socket is
 * idle, and a ping written into a link that no longer carries anything counts as activity, so
 * across a partition it stays connected for ever and never learns that the server expired its
 * session. The watch asks the server a cheap question every `silenceLimitMs / 3` (one at a time:
 * questions never pile up behind a dead link) and counts any answer as a sign of life; once
 * nothing has been heard for `silenceLimitMs` it calls `onSilent`, once.
 */
export interface LinkWatchOptions {
  /** Sends a question to the server; `done` is told whether the server answered it. */
  probe: (done: (answered: boolean) => void) => void;
  silenceLimitMs: number;
  onSilent: () => void;
}

export class LinkWatch {
  private lastHeardAt = Date.now();
  private probeInFlight = false;
  private stopped = false;
  private readonly probeTimer: NodeJS.Timeout;
  private silenceTimer: NodeJS.Timeout;

  constructor(private readonly options: LinkWatchOptions) {
    this.probeTimer = setInterval(() => this.probe(), Math.max(1, Math.floor(options.silenceLimitMs / 3)));
    this.silenceTimer = setTimeout(() => this.check(), options.silenceLimitMs);
    // A watch never keeps a process alive by itself.
    this.probeTimer.unref();
    this.silenceTimer.unref();
  }

  /** The server answered something on this link (a probe or any other request). */
  heard(): void {
    this.lastHeardAt = Date.now();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.probeTimer);
    clearTimeout(this.silenceTimer);
  }

  private probe(): void {
    if (this.probeInFlight || this.stopped) return;
    this.probeInFlight = true;
    this.options.probe((answered) => {
      this.probeInFlight = false;
      if (answered) this.heard();
    });
  }

  /** Re-armed for the rest of the limit after every sign of life, rather than on each answer. */
  private check(): void {
    if (this.stopped) return;
    const silentFor = Date.now() - this.lastHeardAt;
    if (silentFor < this.options.silenceLimitMs) {
      this.silenceTimer = setTimeout(() => this.check(), this.options.silenceLimitMs - silentFor);
      this.silenceTimer.unref();
      return;
    }
    this.stop();
    this.options.onSilent();
  }
}
