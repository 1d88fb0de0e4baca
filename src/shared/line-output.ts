/**
 * Lines to a file descriptor, written together once per turn of the event loop: every line
 * written during a turn leaves in one write() when the turn ends (more while an earlier write is
 * still under way), and whatever is left is written synchronously at exit. A write() per line was
 * most of what an access line cost; sonic-boom's buffering (pino's destination) still spent about
 * 3 µs per line measuring its buffer, this about 0.5.
 */
import fs from 'node:fs';

/** Past this much waiting (a reader that has stopped reading), new lines are dropped, and counted. */
export const MAX_PENDING_BYTES = 8 * 1024 * 1024;
/** A pipe that is full (EAGAIN) is tried again after this long. */
const FULL_PIPE_RETRY_MS = 10;

export class LineOutput {
  private pending: string[] = [];
  private pendingLength = 0;
  private writing = false;
  private scheduled = false;
  /** Lines dropped since the last one that could be written: told in the next line that is. */
  private dropped = 0;

  constructor(
    private readonly fd: number,
    private readonly onDropped: (count: number) => string = (count) => `{"level":40,"msg":"${count} log lines dropped: the output was not being read"}\n`,
  ) {
    process.once('exit', () => this.flushSync());
  }

  /** `line` must end with a newline. */
  write(line: string): void {
    if (this.pendingLength + line.length > MAX_PENDING_BYTES) {
      this.dropped += 1;
      return;
    }
    if (this.dropped > 0) {
      this.push(this.onDropped(this.dropped));
      this.dropped = 0;
    }
    this.push(line);
    if (this.scheduled || this.writing) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.writeOut();
    });
  }

  private push(line: string): void {
    this.pending.push(line);
    this.pendingLength += line.length;
  }

  private take(): Buffer {
    const data = Buffer.from(this.pending.join(''));
    this.pending = [];
    this.pendingLength = 0;
    return data;
  }

  private writeOut(): void {
    if (this.pending.length === 0) return;
    this.writing = true;
    this.send(this.take());
  }

  private send(data: Buffer): void {
    fs.write(this.fd, data, 0, data.length, null, (error, written) => {
      if (error && (error as NodeJS.ErrnoException).code === 'EAGAIN') {
        setTimeout(() => this.send(data), FULL_PIPE_RETRY_MS);
        return;
      }
      if (!error && written < data.length) {
        this.send(data.subarray(written));
        return;
      }
      // Any other error (the reader is gone): these lines are lost, the next ones are tried.
      this.writing = false;
      this.writeOut();
    });
  }

  /** At exit: what is waiting, synchronously (a write already handed to the system a moment before is its to finish). */
  flushSync(): void {
    if (this.pending.length === 0) return;
    let data = this.take();
    for (let attempts = 0; data.length > 0 && attempts < 1000; attempts += 1) {
      try {
        data = data.subarray(fs.writeSync(this.fd, data));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') return;
      }
    }
  }
}
