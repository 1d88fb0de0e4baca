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

  readonly fatal: LogMethod = (...args: Parameters<LogMethod>) => this.real.fatal(...args);
  readonly error: LogMethod = (...args: Parameters<LogMethod>) => this.real.error(...args);
  readonly warn: LogMethod = (...args: Parameters<LogMethod>) => this.real.warn(...args);
  readonly info: LogMethod = (...args: Parameters<LogMethod>) => this.real.info(...args);
  readonly debug: LogMethod = (...args: Parameters<LogMethod>) => this.real.debug(...args);
  readonly trace: LogMethod = (...args: Parameters<LogMethod>) => this.real.trace(...args);
  readonly silent: LogMethod = (...args: Parameters<LogMethod>) => this.real.silent(...args);

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.real.child(bindings, options);
  }
}

/** Fastify's childLoggerFactory. */
export function lazyRequestLogger(parent: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger {
  return new LazyRequestLogger(parent, bindings, options) as unknown as FastifyBaseLogger;
}
