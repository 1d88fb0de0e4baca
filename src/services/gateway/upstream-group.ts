/**
 * The instances of one service behind the gateway, taken in turn (round-robin). An instance that
 * refused a connection is "down" for a short cool-down: it goes to the back of the order instead
 * of being tried first, and a request that finds every live one failing still tries it, so a
 * restarted instance is back in rotation after its first success, with no health probes (which
 * would cost nothing here but add requests the services do not expect).
 *
 * Across hosts an instance may also fall silent (its host crashed or is cut off): a connection to
 * it neither succeeds nor is refused, and a request on an open one never comes back. There the
 * group checks every instance in the background (`healthCheck`): one that misses SILENT_AFTER
 * checks in a row is left out of the order altogether until it answers again, so no request waits
 * on it. One missed check is not enough: on a loaded machine a live instance's answer can be late
 * once, and leaving out a service's only instance fails all its requests.
 *
 * An instance that answers but says it cannot serve yet (`unready`: a host coming back starts its
 * instances before their own gateway and orchestrator answer) is tried last, like a refused one,
 * until a check finds it ready: the others serve meanwhile, and when none is ready it still gets
 * the request, whose answer then says what is missing.
 */
import { RideShareError } from '../../shared/errors.ts';
import { monotonicNow } from '../../shared/monotonic.ts';

/** Health checks missed in a row before an instance counts as silent. */
export const SILENT_AFTER = 2;

/** What one check found: answering and able to serve, answering but not yet able to, or no answer. */
export type InstanceHealth = 'ready' | 'unready' | 'silent';

export interface UpstreamGroupOptions {
  name: string;
  /** Base URLs, e.g. `http://127.0.0.1:8081`; paths are ignored, only origins are used. */
  upstreams: string[];
  /** How long a refused instance stays at the back of the order. Default 2000 ms. */
  coolDownMs?: number;
  now?: () => number;
  /** Every `intervalMs`, each instance's health (InstanceHealth). Off unless given. */
  healthCheck?: { intervalMs: number; probe: (origin: string) => Promise<InstanceHealth> };
}

export class UpstreamGroup {
  readonly name: string;
  readonly #origins: string[];
  readonly #downUntil = new Map<string, number>();
  readonly #coolDownMs: number;
  readonly #now: () => number;
  /** Instances that missed SILENT_AFTER health checks in a row: in no order until one answers. */
  readonly #silent = new Set<string>();
  readonly #missed = new Map<string, number>();
  /** Instances whose last check answered "not ready": tried after every other. */
  readonly #unready = new Set<string>();
  #checker: NodeJS.Timeout | undefined;
  #next = 0;

  constructor(options: UpstreamGroupOptions) {
    if (options.upstreams.length === 0) throw new RideShareError('INVARIANT', `${options.name}: at least one upstream is needed`);
    this.name = options.name;
    this.#origins = options.upstreams.map((upstream) => new URL(upstream).origin);
    this.#coolDownMs = options.coolDownMs ?? 2000;
    this.#now = options.now ?? monotonicNow;
    const { healthCheck } = options;
    if (healthCheck) {
      let checking = false;
      this.#checker = setInterval(() => {
        // One round at a time: a probe of a silent instance takes the whole interval.
        if (checking) return;
        checking = true;
        void Promise.all(this.#origins.map(async (origin) => this.#checked(origin, await healthCheck.probe(origin)))).finally(() => (checking = false));
      }, healthCheck.intervalMs);
      this.#checker.unref();
    }
  }

  #checked(origin: string, health: InstanceHealth): void {
    const missed = health === 'silent' ? (this.#missed.get(origin) ?? 0) + 1 : 0;
    this.#missed.set(origin, missed);
    if (missed === 0) this.#silent.delete(origin);
    else if (missed >= SILENT_AFTER) this.#silent.add(origin);
    // A missed check says nothing about readiness: the last answer's word stands.
    if (health === 'ready') this.#unready.delete(origin);
    else if (health === 'unready') this.#unready.add(origin);
  }

  /** Stops the health checks. */
  close(): void {
    clearInterval(this.#checker);
  }

  /** The instances' origins, in configuration order. */
  get origins(): readonly string[] {
    return this.#origins;
  }

  /**
   * Every instance, in the order one request should try them: live ones in turn, then down or
   * unready ones; none that fell silent (no instance at all when every one is silent).
   */
  candidates(): string[] {
    const now = this.#now();
    const isDown = (origin: string): boolean => (this.#downUntil.get(origin) ?? 0) > now || this.#silent.has(origin) || this.#unready.has(origin);
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
    const reachable = rotated.filter((origin) => !this.#silent.has(origin));
    return [...reachable.filter((origin) => !isDown(origin)), ...reachable.filter(isDown)];
  }

  markDown(origin: string): void {
    this.#downUntil.set(origin, this.#now() + this.#coolDownMs);
  }

  markUp(origin: string): void {
    this.#downUntil.delete(origin);
  }
}
