/**
 * Bodies are JSON whatever the Content-Type says (or if it says nothing): clients of the original
 * product sent JSON with and without the header. An empty body is no body at all, so POST and
 * DELETE calls that need none work with or without `Content-Type: application/json`.
 */
import type { FastifyInstance } from 'fastify';
import { BadRequestError } from '../errors.ts';
import { BODY_LIMIT_BYTES } from './limits.ts';

export function parseJsonText(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    const reason = error instanceof Error ? error.message : 'unparsable';
    throw new BadRequestError(`the body is not valid JSON (${reason.slice(0, 120)})`);
  }
}

export function installJsonBody(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: BODY_LIMIT_BYTES }, (_request, text, done) => {
    try {
      done(null, parseJsonText(String(text)));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
}

/**
 * Bodies held as bytes, not parsed: the gateway forwards them unchanged, and can send the same
 * bytes to another instance when the first one cannot be reached.
 */
export function installRawBody(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: BODY_LIMIT_BYTES }, (_request, body, done) => done(null, body));
}
