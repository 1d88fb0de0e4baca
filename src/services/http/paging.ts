/**
 * Paging of the public list endpoints (GET /api/v1/users, GET /api/v1/rides). The answer stays
 * the specification's plain JSON array; `?limit=` (default DEFAULT_PAGE_SIZE, at most
 * MAX_PAGE_SIZE) bounds it, and when there is more the next page is told in headers only:
 * `X-Next-After: <cursor>` and `Link: <…&after=<cursor>>; rel="next"`, so a client that ignores
 * headers still gets a valid answer. `?after=` is a keyset cursor (the last item of the previous
 * page), so a page never skips or repeats an item when others are added or removed meanwhile.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { BadRequestError } from '../../shared/errors.ts';

export const DEFAULT_PAGE_SIZE = 100;
/**
 * The database bounds one reply (RESULT_TOO_LARGE); a page of MAX_PAGE_SIZE rows of the longest
 * texts it stores, escaped at six bytes a character, stays well within that bound.
 */
export const MAX_PAGE_SIZE = 500;

export const NEXT_AFTER_HEADER = 'x-next-after';

/** The one value of a query parameter; given twice it is a 400, not a silent choice. */
export function queryValue(request: FastifyRequest, name: string): string | undefined {
  const value = (request.query as Record<string, unknown> | undefined)?.[name];
  if (value === undefined || typeof value === 'string') return value;
  throw new BadRequestError(`${name}: give it at most once`);
}

export function pageSize(request: FastifyRequest): number {
  const text = queryValue(request, 'limit');
  if (text === undefined) return DEFAULT_PAGE_SIZE;
  const size = /^[1-9][0-9]{0,5}$/.test(text) ? Number(text) : 0;
  if (size < 1 || size > MAX_PAGE_SIZE) throw new BadRequestError(`limit: a whole number from 1 to ${MAX_PAGE_SIZE}`);
  return size;
}

/** Tells where the next page starts: the same request with `after` set to `cursor`. */
export function announceNextPage(request: FastifyRequest, reply: FastifyReply, cursor: string, size: number): void {
  const next = new URL(request.url, 'http://localhost');
  next.searchParams.set('limit', String(size));
  next.searchParams.set('after', cursor);
  void reply.header(NEXT_AFTER_HEADER, cursor).header('link', `<${next.pathname}${next.search}>; rel="next"`);
}
