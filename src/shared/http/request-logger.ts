/**
 * A request's logger (fastify's `request.log`), made only when the request logs something. Most
 * requests log nothing beyond the access line, which is written with the request id as a field;
 * a pino child per request (its bindings serialized and redacted up front) was a measurable part
 * of the cost of a request.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Bindings, ChildLoggerOptions, LevelWithSilentOrString } from 'pino';

type LogMethod = FastifyBaseLogger['info'];

class LazyRequestLogger {
  private made: FastifyBaseLogger | undefined;

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}

  private get real(): FastifyBaseLogger {
    this.made ??= this.parent.child(this.bindings, this.options);
    return this.made;
  }

  get level(): LevelWithSilentOrString {
    return this.made?.level ?? this.options.level ?? this.parent.level;
  }

  set level(level: LevelWithSilentOrString) {
    this.real.level = level;
  }

  fatal(...args: Parameters<LogMethod>): void {
    this.real.fatal(...args);
  }

  error(...args: Parameters<LogMethod>): void {
    this.real.error(...args);
  }

  warn(...args: Parameters<LogMethod>): void {
    this.real.warn(...args);
  }

  info(...args: Parameters<LogMethod>): void {
    this.real.info(...args);
  }

  debug(...args: Parameters<LogMethod>): void {
    this.real.debug(...args);
  }

  trace(...args: Parameters<LogMethod>): void {
    this.real.trace(...args);
  }

  silent(...args: Parameters<LogMethod>): void {
    this.real.silent(...args);
  }

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.real.child(bindings, options);
  }
}

/** Fastify's childLoggerFactory. */
export function lazyRequestLogger(parent: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger {
  return new LazyRequestLogger(parent, bindings, options) as unknown as FastifyBaseLogger;
}
