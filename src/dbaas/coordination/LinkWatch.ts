/**
 * Notices a ZooKeeper link that went silent. node-zookeeper-client pings only when its socket is
 * idle, and a ping written into a link that no longer carries anything counts as activity, so
 * across a partition it stays connected for ever and never learns that the server expired its
 * session. The watch asks the server a cheap question every `silenceLimitMs / 3` (one at a time:
 * questions never pile up behind a dead link) and counts any answer as a sign of life; once
 * nothing has been heard for `silenceLimitMs`, and the question in flight has had the rest of
 * that time to be answered, it calls `onSilent`, once. The second condition keeps a stall of this
 * process (during which it asked nothing) from passing for a silent server. Silence is measured
 * on the monotonic clock: a step of the host's wall clock (NTP) must neither pass for 30 s of
 * silence nor hide a real one for as long as the step.
 */
export interface LinkWatchOptions {
  /** Sends a question to the server; `done` is told whether the server answered it. */
  probe: (done: (answered: boolean) => void) => void;
  silenceLimitMs: number;
  onSilent: () => void;
}

export class LinkWatch {
  private lastHeardAt = performance.now();
  private probeInFlight = false;
  private probeSentAt = 0;
  private stopped = false;
  private readonly probePeriodMs: number;
  private readonly probeTimer: NodeJS.Timeout;
  private silenceTimer: NodeJS.Timeout;

  constructor(private readonly options: LinkWatchOptions) {
    this.probePeriodMs = Math.max(1, Math.floor(options.silenceLimitMs / 3));
    this.probeTimer = setInterval(() => this.probe(), this.probePeriodMs);
    this.silenceTimer = setTimeout(() => this.check(), options.silenceLimitMs);
    // A watch never keeps a process alive by itself.
    this.probeTimer.unref();
    this.silenceTimer.unref();
  }

  /** The server answered something on this link (a probe or any other request). */
  heard(): void {
    this.lastHeardAt = performance.now();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.probeTimer);
    clearTimeout(this.silenceTimer);
  }

  private probe(): void {
    if (this.probeInFlight || this.stopped) return;
    this.probeInFlight = true;
    this.probeSentAt = performance.now();
    this.options.probe((answered) => {
      this.probeInFlight = false;
      if (answered) this.heard();
    });
  }

  /** Re-armed for the rest of the limit after every sign of life, rather than on each answer. */
  private check(): void {
    if (this.stopped) return;
    const silentFor = performance.now() - this.lastHeardAt;
    if (silentFor < this.options.silenceLimitMs) {
      this.recheckIn(this.options.silenceLimitMs - silentFor);
      return;
    }
    // What a question asked on time gets to be answered: the limit less the period it waits to be asked.
    const answerTimeMs = this.options.silenceLimitMs - this.probePeriodMs;
    if (!this.probeInFlight) {
      this.probe();
      this.recheckIn(answerTimeMs);
      return;
    }
    const askedFor = performance.now() - this.probeSentAt;
    if (askedFor < answerTimeMs) {
      this.recheckIn(answerTimeMs - askedFor);
      return;
    }
    // After a stall of this process, timers run before the socket is read: an answer may be
    // waiting there. setImmediate runs once pending input has been handled.
    setImmediate(() => {
      if (this.stopped) return;
      if (performance.now() - this.lastHeardAt < this.options.silenceLimitMs) {
        this.check();
        return;
      }
      this.stop();
      this.options.onSilent();
    });
  }

  private recheckIn(ms: number): void {
    this.silenceTimer = setTimeout(() => this.check(), ms);
    this.silenceTimer.unref();
  }
}
