/**
 * The sign, in a RabbitMQ node's own log, that its boot has stopped for good.
 *
 * A node started again before its peers noticed that it went (a host's crash and restart within
 * net_ticktime) can stop booting in Erlang's global name registry: a peer still holds its old
 * incarnation's half-made connection. RabbitMQ 3.10 notices, logs "Global hang workaround: global
 * state on <peer> seems broken" about 20 s into the boot, and sends both sides fake nodedown and
 * nodeup messages; from Erlang 25.1 on (Debian 12 has 25.2) the global name server ignores them, and
 * the boot never finishes. A node killed and started again then boots as any restarted one, so the
 * line is the cue to do that at once instead of after the boot's overall limit.
 */
import { open, stat } from 'node:fs/promises';

const GLOBAL_HANG_LINE = 'Global hang workaround: global state on';

export class BootHangSign {
  readonly #logFile: string;
  #from = 0;

  constructor(logFile: string) {
    this.#logFile = logFile;
  }

  /** From now on: only lines the node writes after this call count (call it at each start). */
  async mark(): Promise<void> {
    this.#from = await sizeOf(this.#logFile);
  }

  /** Whether the node logged the sign since the last mark (a rotated log is read from its start). */
  async seen(): Promise<boolean> {
    const size = await sizeOf(this.#logFile);
    if (size < this.#from) this.#from = 0;
    if (size === this.#from) return false;
    const file = await open(this.#logFile, 'r').catch(() => undefined);
    if (!file) return false;
    try {
      const length = size - this.#from;
      const buffer = Buffer.alloc(length);
      await file.read(buffer, 0, length, this.#from);
      return buffer.toString('utf8').includes(GLOBAL_HANG_LINE);
    } finally {
      await file.close();
    }
  }
}

async function sizeOf(file: string): Promise<number> {
  return (await stat(file).catch(() => undefined))?.size ?? 0;
}
