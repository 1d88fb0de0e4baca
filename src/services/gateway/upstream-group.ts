/**
 * The instances of one service behind the gateway, taken in turn (round-robin). An instance that
 * refused a connection is "down" for a short cool-down: it goes to the back of the order instead
 * of being tried first, and a request that finds every live one failing still tries it, so a
 * restarted instance is back in rotation after its first success, with no health probes (which
 * would cost nothing here but add requests the services do not expect).
 */
import { RideShareError } from '../../shared/errors.ts';

export interface UpstreamGroupOptions {
  name: string;
  /** Base URLs, e.g. `http://127.0.0.1:8081`; paths are ignored, only origins are used. */
  upstreams: string[];
  /** How long a refused instance stays at the back of the order. Default 2000 ms. */
  coolDownMs?: number;
  now?: () => number;
}

export class UpstreamGroup {
  readonly name: string;
  readonly #origins: string[];
  readonly #downUntil = new Map<string, number>();
  readonly #coolDownMs: number;
  readonly #now: () => number;
  #next = 0;

  constructor(options: UpstreamGroupOptions) {
    if (options.upstreams.length === 0) throw new RideShareError('INVARIANT', `${options.name}: at least one upstream is needed`);
    this.name = options.name;
    this.#origins = options.upstreams.map((upstream) => new URL(upstream).origin);
    this.#coolDownMs = options.coolDownMs ?? 2000;
    this.#now = options.now ?? Date.now;
  }

  /** The instances' origins, in configuration order. */
  get origins(): readonly string[] {
    return this.#origins;
  }

  /** Every instance, in the order one request should try them: live ones in turn, then down ones. */
  candidates(): string[] {
    const now = this.#now();
    const isDown = (origin: string): boolean => (this.#downUntil.get(origin) ?? 0) > now;
    const count = this.#origins.length;
    // The cursor moves past the instance this request starts with, so live ones share the load
    // evenly even while another is down.
    let start = this.#next;
    for (let step = 0; step < count; step += 1) {
      const index = (this.#next + step) % count;
      if (!isDown(this.#origins[index] as string)) {
        start = index;
        break;
      }
    }
    this.#next = (start + 1) % count;
    const rotated = [...this.#origins.slice(start), ...this.#origins.slice(0, start)];
    return [...rotated.filter((origin) => !isDown(origin)), ...rotated.filter(isDown)];
  }

  markDown(origin: string): void {
    this.#downUntil.set(origin, this.#now() + this.#coolDownMs);
  }

  markUp(origin: string): void {
    this.#downUntil.delete(origin);
  }
}
