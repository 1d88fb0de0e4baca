/**
 * Forwards one request to an instance of a group, and to the next one when an instance cannot
 * be connected to. Only connection failures move on: then the request certainly never reached
 * that instance, so nothing is done twice and no `_count` is inflated. A failure after the
 * request was sent (a reset, a timeout) is answered as a 503, never replayed.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type {} from '@fastify/http-proxy';
import { TimeoutError, UnavailableError } from '../../shared/errors.ts';
import { DRAINING_HEADER } from '../../shared/http/drain.ts';
import { sendError } from '../../shared/http/errors.ts';
import { BROWSER_ORIGIN_HEADERS, changesState } from '../../shared/http/same-origin.ts';
import { REQUEST_ID_HEADER } from '../../shared/request-context.ts';
import type { UpstreamGroup } from './upstream-group.ts';

type ReplyFromOptions = NonNullable<Parameters<FastifyReply['from']>[1]>;

const CONNECT_FAILURES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** reply-from wraps transport errors; the cause tells whether a connection was ever made. */
function isConnectFailure(error: Error): boolean {
  const code = codeOf(error.cause) ?? codeOf(error);
  return code !== undefined && CONNECT_FAILURES.has(code);
}

function isTimeout(error: Error): boolean {
  return (error as { statusCode?: unknown }).statusCode === 504;
}

/**
 * Bodies arrive as a Buffer (see gateway.ts), so each attempt can send the same bytes again;
 * they are forwarded unchanged, never re-encoded.
 */
function bodyOptions(request: FastifyRequest): Pick<ReplyFromOptions, 'body' | 'contentType'> {
  if (!Buffer.isBuffer(request.body)) return {};
  return { body: request.body, contentType: request.headers['content-type'] ?? 'application/octet-stream' };
}

function rewriteRequestHeaders(request: FastifyRequest, headers: Record<string, unknown>): Record<string, unknown> {
  const rewritten: Record<string, unknown> = {
    ...headers,
    'x-forwarded-for': [request.headers['x-forwarded-for'], request.ip].filter(Boolean).join(', '),
    'x-forwarded-host': request.headers.host,
    'x-forwarded-proto': request.protocol,
    // The request id made (or accepted) here travels on, so every hop logs the same id.
    [REQUEST_ID_HEADER]: request.id,
  };
  // reply-from needs a content type to send raw bytes; a client that sent none still sends none.
  if (request.headers['content-type'] === undefined) delete rewritten['content-type'];
  // This gateway has found a write same-origin (src/shared/http/same-origin.ts); the instance,
  // reached under its own Host, would take the gateway's origin for another site's.
  if (changesState(request.method)) for (const name of BROWSER_ORIGIN_HEADERS) delete rewritten[name];
  return rewritten;
}

export interface FailoverOptions {
  group: UpstreamGroup;
  /** Upper bound for an instance's answer. */
  timeoutMs: number;
}

export function proxyWithFailover(request: FastifyRequest, reply: FastifyReply, dest: string, options: FailoverOptions): FastifyReply {
  const candidates = options.group.candidates();
  const attempt = (index: number): void => {
    const origin = candidates[index];
    if (origin === undefined) {
      sendError(reply, new UnavailableError(`no ${options.group.name} instance is reachable`));
      return;
    }
    reply.from(dest, {
      ...bodyOptions(request),
      getUpstream: () => origin,
      timeout: options.timeoutMs,
      // reply-from would replay a GET answered with 503; a service's 503 is an answer to pass on.
      retryDelay: () => null,
      rewriteRequestHeaders: rewriteRequestHeaders as ReplyFromOptions['rewriteRequestHeaders'],
      // An instance about to stop says so on its answers: new requests go to the others meanwhile.
      rewriteHeaders: (headers) => {
        if (headers[DRAINING_HEADER] === undefined) {
          options.group.markUp(origin);
          return headers;
        }
        options.group.markDown(origin);
        const { [DRAINING_HEADER]: _draining, ...rest } = headers;
        return rest;
      },
      onResponse: (_request, replyToClient, response) => {
        void replyToClient.send(response.stream);
      },
      onError: (_reply, { error }) => {
        if (isConnectFailure(error)) {
          options.group.markDown(origin);
          request.log.warn({ upstream: origin, group: options.group.name, code: codeOf(error.cause) }, 'instance unreachable, trying the next');
          attempt(index + 1);
          return;
        }
        request.log.warn({ upstream: origin, err: error }, 'instance failed after the request was sent');
        sendError(
          reply,
          isTimeout(error) ? new TimeoutError(`the ${options.group.name} instance did not answer in time`) : new UnavailableError(`the ${options.group.name} instance failed: ${error.message}`),
        );
      },
    });
  };
  attempt(0);
  return reply;
}
