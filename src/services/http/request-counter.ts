/**
 * The `_count` rule: every request this instance received under its prefix (failed ones, 404s and
 * 405s included), and never `_count` itself, `db/clear`, health checks or anything off the prefix.
 * Counting happens in onRequest, before routing can fail, so no outcome escapes it.
 */
import type { FastifyInstance } from 'fastify';
import { defineResource } from '../../shared/http/resource.ts';

export class RequestCounter {
  #count = 0;

  constructor(private readonly prefix: string) {}

  /** True when `url` (path and query) lies on the counted prefix. */
  covers(url: string): boolean {
    const path = url.split('?', 1)[0] ?? '';
    return path === this.prefix || path.startsWith(`${this.prefix}/`);
  }

  observe(url: string): void {
    if (this.covers(url)) this.#count += 1;
  }

  get value(): number {
    return this.#count;
  }

  reset(): void {
    this.#count = 0;
  }
}

export function installRequestCounting(app: FastifyInstance, counter: RequestCounter): void {
  app.addHook('onRequest', (request, _reply, done) => {
    counter.observe(request.url);
    done();
  });
  defineResource(app, '/api/v1/_count', {
    GET: async () => [counter.value],
    DELETE: async () => {
      counter.reset();
      return {};
    },
  });
}
