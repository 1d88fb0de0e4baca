/**
 * A service `npm start` keeps running: when it exits on its own it is started again after a
 * back-off (0.5 s doubling to 10 s, back to 0.5 s once a run lasted 30 s), each restart logged
 * with how it ended. Only stop() or kill() end it. A restarted orchestrator adopts the running
 * workers, so the database keeps serving while its orchestrator comes back.
 */
import type { Logger } from '../shared/logger.ts';
import { ServiceProcess, type ServiceProcessOptions } from './ServiceProcess.ts';
import { RideShareError } from '../shared/errors.ts';
import { monotonicNow } from '../shared/monotonic.ts';

export interface RestartPolicy {
  /** The first delay after a crash. */
  initialDelayMs: number;
  /** The delay doubles up to this. */
  maxDelayMs: number;
  /** A run at least this long was a success: the next crash starts from the first delay again. */
  resetAfterMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = { initialDelayMs: 500, maxDelayMs: 10_000, resetAfterMs: 30_000 };

export interface KeptServiceOptions extends ServiceProcessOptions {
  logger: Logger;
  restart?: Partial<RestartPolicy>;
}

/** The delay before the next restart, given the last one and how long the run that just ended lasted. */
export function nextRestartDelay(policy: RestartPolicy, previousDelayMs: number | undefined, uptimeMs: number): number {
  if (previousDelayMs === undefined || uptimeMs >= policy.resetAfterMs) return policy.initialDelayMs;
  return Math.min(previousDelayMs * 2, policy.maxDelayMs);
}

export class KeptService {
  private readonly policy: RestartPolicy;
  private readonly logger: Logger;
  private current: ServiceProcess | undefined;
  private startedAt = 0;
  private lastDelayMs: number | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private state: 'idle' | 'starting' | 'running' | 'stopped' = 'idle';
  private restarts = 0;

  constructor(private readonly options: KeptServiceOptions) {
    this.policy = { ...DEFAULT_RESTART_POLICY, ...options.restart };
    this.logger = options.logger.child({ service: options.name });
  }

  get name(): string {
    return this.options.name;
  }

  get pid(): number | undefined {
    return this.current?.pid;
  }

  /** How many times it was started again after an exit. */
  get restartCount(): number {
    return this.restarts;
  }

  /**
   * The first start: resolves once it listens. A failure here is a failure of the system's start
   * (a port in use, a bad setting), reported, not retried.
   */
  async start(): Promise<void> {
    if (this.state !== 'idle') throw new RideShareError('INVALID_STATE', `${this.name} was already started`);
    this.state = 'starting';
    await this.launch();
    if (this.state === 'starting') this.state = 'running';
  }

  /** No more restarts; the current run gets `signal`, then SIGKILL after the grace. */
  async stop(graceMs?: number, signal?: 'SIGTERM' | 'SIGINT'): Promise<void> {
    this.state = 'stopped';
    clearTimeout(this.restartTimer);
    await this.current?.stop(graceMs, signal);
  }

  /** No more restarts; the current run's whole process group gets SIGKILL. */
  async kill(): Promise<void> {
    this.state = 'stopped';
    clearTimeout(this.restartTimer);
    await this.current?.kill();
  }

  private launch(): Promise<void> {
    const run = new ServiceProcess(this.options);
    this.current = run;
    this.startedAt = monotonicNow();
    return run.start((_name, code, signal) => this.onExit(run, code, signal));
  }

  private onExit(run: ServiceProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.current !== run || this.state !== 'running') return;
    const uptimeMs = monotonicNow() - this.startedAt;
    const delayMs = nextRestartDelay(this.policy, this.lastDelayMs, uptimeMs);
    this.lastDelayMs = delayMs;
    this.logger.error({ code, signal, uptimeMs, restartInMs: delayMs }, `${this.name} exited; restarting it`);
    this.restartTimer = setTimeout(() => this.restart(), delayMs);
  }

  private restart(): void {
    if (this.state !== 'running') return;
    this.restarts += 1;
    this.launch().then(
      () => this.logger.info({ pid: this.pid, restarts: this.restarts }, `${this.name} is back`),
      // An exit during start-up is handled (and retried) by onExit; a start that never listens is ended here.
      (error: unknown) => {
        this.logger.warn({ err: error }, `${this.name} did not come back`);
        void this.current?.kill();
      },
    );
  }
}
