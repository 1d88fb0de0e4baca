/**
 * The HTTP conventions every RideShare server shares: coded errors become their status with a
 * JSON body, malformed JSON is a 400, unknown paths a JSON 404, and a POST or DELETE without a
 * body or Content-Type is accepted.
 */
import type { FastifyError, FastifyInstance } from 'fastify';
import { errorBody, RideShareError } from './errors.ts';

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | RideShareError, request, reply) => {
    if (error instanceof RideShareError) {
      if (error.status >= 500) request.log.warn({ err: error }, 'request failed');
      return reply.status(error.status).send(errorBody(error));
    }
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const message = error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error instanceof SyntaxError ? 'the body is not valid JSON' : error.message;
      return reply.status(status).send(errorBody(new RideShareError(status === 413 ? 'BAD_REQUEST' : 'BAD_REQUEST', message)));
    }
    request.log.error({ err: error }, 'unexpected error');
    return reply.status(500).send(errorBody(new RideShareError('INTERNAL', 'internal error')));
  });
  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send(errorBody(new RideShareError('NOT_FOUND', `no route for ${request.method} ${request.url}`)));
  });
  // A body-less POST/DELETE with a JSON content type (or none at all) is fine: treat it as no body.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch {
      done(Object.assign(new SyntaxError('the body is not valid JSON'), { statusCode: 400 }), undefined);
    }
  });
}
