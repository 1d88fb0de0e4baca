/**
 * A folder on a tmpfs of a fixed size, so a fault can fill it the way a full disk fills: a
 * ballast file written until the kernel says ENOSPC, then removed. Mounting needs root (the fault
 * environments run as root). The mount is undone however the environment ends: stop(), or the
 * synchronous unmountNow() from a process 'exit' handler.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const BALLAST = '.ballast';
/** The workers' disk of the fault environments: room for a few replicas of a round's writes and their WAL. */
export const WORKERS_DISK_BYTES = 64 * 1024 * 1024;
const CHUNK = Buffer.alloc(1024 * 1024, 0x5a);

export class SmallDisk {
  private isMounted = false;

  constructor(
    readonly dir: string,
    readonly bytes: number,
  ) {}

  get mounted(): boolean {
    return this.isMounted;
  }

  mount(): void {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${this.bytes},mode=0700`, 'tmpfs', this.dir], { stdio: 'pipe' });
    this.isMounted = true;
  }

  /** Free bytes as the filesystem reports them. */
  freeBytes(): number {
    const stats = fs.statfsSync(this.dir);
    return stats.bavail * stats.bsize;
  }

  /**
   * Writes the ballast until the disk refuses more (ENOSPC), then returns how many bytes it took.
   * Every later write of new space on this disk fails until free().
   */
  fill(): number {
    const file = path.join(this.dir, BALLAST);
    const fd = fs.openSync(file, 'a', 0o600);
    let written = 0;
    try {
      for (let chunk = CHUNK; chunk.length > 0; ) {
        try {
          written += fs.writeSync(fd, chunk);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
          // The last pages: smaller and smaller writes until not one byte fits.
          chunk = chunk.subarray(0, chunk.length >> 1);
        }
      }
    } finally {
      fs.closeSync(fd);
    }
    return written;
  }

  /** Removes the ballast: the space is back at once. */
  free(): void {
    fs.rmSync(path.join(this.dir, BALLAST), { force: true });
  }

  /** Unmounts (lazily, should a straggler still hold a file); `keepCopy` first copies the files beside it for diagnosis. */
  unmount(options: { keepCopy?: boolean } = {}): void {
    if (!this.isMounted) return;
    if (options.keepCopy) {
      this.free();
      fs.cpSync(this.dir, `${this.dir}.kept`, { recursive: true });
    }
    this.unmountNow();
  }

  /** Synchronous and silent, for an exit handler: the mount must not outlive the test process. */
  unmountNow(): void {
    if (!this.isMounted) return;
    try {
      execFileSync('umount', ['-l', this.dir], { stdio: 'ignore' });
      this.isMounted = false;
    } catch {
      // Not mounted any more (or mount(8) missing): nothing left to undo.
    }
  }
}
