/**
 * A bed host's wall clock, faked for RideShare's own processes with Debian's libfaketime: its
 * `npm start` runs with the library preloaded (LD_PRELOAD, which npm start passes on to the
 * orchestrator, the workers, the services and the gateway) and reads its offset from a file of
 * the bed on every call (FAKETIME_NO_CACHE), so rewriting the file steps the clock of every
 * process at once, as an NTP step of the host's clock would. Only the wall clock moves
 * (FAKETIME_DONT_FAKE_MONOTONIC): timers, timeouts and performance.now() go on as before.
 *
 * The host's RabbitMQ node and ZooKeeper server are started with a clean environment (`env -i`,
 * src/infra/rabbitmq-cluster-node.ts and zookeeper-ensemble-server.ts), so the library never
 * reaches them: their clocks stay true.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { ensureDebianPackages } from './debian-packages.ts';

/** The thread-safe build: Node runs threads of its own (libuv's pool, V8's). */
export const FAKETIME_LIBRARY = '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1';
/** Debian's package with that library (libfaketime) and the faketime command. */
const FAKETIME_PACKAGE = 'faketime';

export class HostClock {
  private offsetSeconds = 0;

  private constructor(
    /** The offset file libfaketime reads: `+30`, `-30`, `+0` (seconds). */
    readonly file: string,
  ) {
    this.write(0);
  }

  /** A clock whose offset lives in `file` (made true: +0), libfaketime installed if missing. */
  static async make(file: string): Promise<HostClock> {
    await ensureDebianPackages([FAKETIME_PACKAGE]);
    return new HostClock(file);
  }

  /** The settings to export for the host's `npm start`. */
  get environment(): Record<string, string> {
    return {
      LD_PRELOAD: FAKETIME_LIBRARY,
      FAKETIME_TIMESTAMP_FILE: this.file,
      FAKETIME_NO_CACHE: '1',
      FAKETIME_DONT_FAKE_MONOTONIC: '1',
    };
  }

  /** Seconds the host's wall clock is ahead of the true one (behind when negative). */
  get offset(): number {
    return this.offsetSeconds;
  }

  /** Sets the host's clock `seconds` ahead of the true one (behind when negative; 0: true again). */
  step(seconds: number): void {
    this.write(seconds);
  }

  /** Written aside and renamed over, so no process ever reads half a file (libfaketime would take it as +0). */
  private write(seconds: number): void {
    const next = `${this.file}.next`;
    writeFileSync(next, `${seconds >= 0 ? '+' : '-'}${Math.abs(seconds)}\n`);
    renameSync(next, this.file);
    this.offsetSeconds = seconds;
  }
}
