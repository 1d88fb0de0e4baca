/**
 * The one place an HTTP server of the system turns a thrown error into an answer. Handlers throw
 * coded errors (src/shared/errors.ts, or any error whose `code` is in that registry, such as the
 * protocol's InvalidRequestError); fastify's own refusals (bad JSON, body too large, bad URL) are
 * folded into the same `{error, code}` shape, so a client never sees two error formats.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorBody, isErrorCode, RideShareError } from '../errors.ts';
import { loggedUrl } from './logged-url.ts';
import { CUT_OFF_MESSAGE, drainOversizedBody, isOversizedBody, oversizedBodyError } from './oversized-body.ts';

/** Echoed input is cut short: a 100 kB path must not come back as a 100 kB error message. */
export function abbreviate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

function statusOf(error: unknown): number | undefined {
  const status = (error as Partial<FastifyError> | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** Any error as a coded one: a client mistake stays a 400, everything unknown is our fault (500). */
export function toRideShareError(error: unknown): RideShareError {
  if (error instanceof RideShareError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  if (error instanceof Error && isErrorCode(code)) return new RideShareError(code, error.message, { cause: error });
  const status = statusOf(error);
  if (error instanceof Error && status !== undefined && status >= 400 && status < 500) {
    // fastify's and the proxy's own refusals (415 unparsable Content-Type,
    // a path that escapes its prefix) are client mistakes the spec wants as 400s.
    return new RideShareError('BAD_REQUEST', abbreviate(error.message, 200), { cause: error });
  }
  return new RideShareError('INTERNAL', 'internal error', { cause: error });
}

export function sendError(reply: FastifyReply, error: RideShareError): void {
  void reply.code(error.status).type('application/json').send(errorBody(error));
}

/** Where a failed request is told: the request's logger (its lines carry the request id). */
export interface FailureLog {
  error(details: object, message: string): void;
  warn(details: object, message: string): void;
}

/** A handler's error as the coded answer to send, told in the log when it is the server's side (5xx); shared by the error handler and the front door. */
export function codedAndLogged(error: unknown, log: FailureLog, url: string): RideShareError {
  const coded = toRideShareError(error);
  // A 503 is an expected, passing state of the database service; a 500 (INTERNAL, INVARIANT,
  // INVALID_STATE…) is our bug.
  if (coded.status === 500) log.error({ err: error, url: loggedUrl(url) }, 'request failed');
  else if (coded.status >= 500) log.warn({ code: coded.code, reason: coded.message, url: loggedUrl(url) }, 'request failed');
  return coded;
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler(async (error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    if (isOversizedBody(error)) {
      const drained = await drainOversizedBody(request);
      if (!drained) request.log.warn(CUT_OFF_MESSAGE);
      // fastify asked for the connection to close: the rest of a body must not be read as the next request.
      void reply.header('connection', 'close');
      sendError(reply, oversizedBodyError());
      return reply;
    }
    sendError(reply, codedAndLogged(error, request.log, request.url));
    return reply;
  });
  app.setNotFoundHandler((request, reply) => {
    const path = abbreviate(request.url.split('?')[0] ?? '', 200);
    sendError(reply, new RideShareError('NOT_FOUND', `no such path: ${request.method} ${path}`));
  });
}
