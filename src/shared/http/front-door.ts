/**
 * The routes a server answers most often (the orchestrator's db/read and db/write), answered by a
 * plain node:http request listener placed before fastify's. fastify's request and reply objects,
 * its hook chains and its router cost a few percent of each call; the checks and reports are the
 * same functions fastify's hooks call (same-origin.ts, auth.ts, observability.ts, errors.ts,
 * oversized-body.ts, drain.ts), so an answer here is the answer fastify would give.
 *
 * A hook added to the app later does not run here: what it does must be added here too.
 *
 * Only the ordinary request is answered here: a POST to the exact path whose body is JSON or
 * absent and whose declared length is within the limit. Everything else (another method, a query
 * string, an unusual Content-Type, a body declared too large) goes on to fastify, which answers it
 * as on any route; so does every request once the server has begun to close.
 */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, RequestListener, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { Role } from '../auth/tokens.ts';
import { BadRequestError, errorBody, RideShareError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { REQUEST_ID_HEADER, requestIdFrom } from '../request-context.ts';
import { AUTHENTICATE_HEADER, type Access, type Authorizer } from './auth.ts';
import { isDraining, DRAINING_HEADER } from './drain.ts';
import { abbreviate, codedAndLogged } from './errors.ts';
import { parseJsonText } from './json-body.ts';
import { BODY_LIMIT_BYTES } from './limits.ts';
import type { RequestObserver } from './observability.ts';
import { CUT_OFF_MESSAGE, drainOversizedBody, oversizedBodyError } from './oversized-body.ts';
import { crossSiteRefusal } from './same-origin.ts';

/** What a front-door handler is given: the parsed body, the role the token proved, and the request's id (no request context here). */
export interface FrontRequest {
  body: unknown;
  role: Role | undefined;
  requestId: string;
  headers: IncomingHttpHeaders;
}

/** Answers a POST with the object sent back as JSON, or throws a coded error (src/shared/errors.ts). */
export type FrontHandler = (request: FrontRequest) => Promise<object>;

export interface FrontDoorOptions {
  /** POST handlers by exact path; fastify must define the same routes, for every request not answered here. */
  routes: Readonly<Record<string, FrontHandler>>;
  /** The token check; without one, no role is known (as with fastify without installAuth). */
  authorize: Authorizer | undefined;
  accessOf(method: string, route: string | undefined): Access;
  observe: RequestObserver;
  /** The server's logger; a failed request's lines go to a child of it carrying the request id, as fastify's `request.log`. */
  logger: Logger;
  /** While this says false, every request goes on to fastify (the orchestrator's protocol gate holds or passes calls on during a rolling upgrade). */
  open?: () => boolean;
}

const JSON_CONTENT_TYPES = new Set(['application/json', 'application/json; charset=utf-8']);
const JSON_ANSWER = 'application/json; charset=utf-8';

class BodyTooLarge extends Error {}

interface Route {
  path: string;
  handler: FrontHandler;
  needed: Access;
}

/** Puts the front door before fastify's own request listener on the app's server (created with the app, before it listens). */
export function placeFrontDoor(app: FastifyInstance, options: FrontDoorOptions): void {
  const routes = new Map<string, Route>(Object.entries(options.routes).map(([path, handler]) => [path, { path, handler, needed: options.accessOf('POST', path) }]));
  const server = app.server;
  const listeners = server.listeners('request') as RequestListener[];
  const fastifyListener = listeners[0];
  if (listeners.length !== 1 || fastifyListener === undefined) throw new RideShareError('INVARIANT', `expected fastify's one request listener, found ${listeners.length}`);
  let closing = false;
  // fastify answers requests on a closing server itself (503, connection closed).
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  server.removeListener('request', fastifyListener);
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const route = closing || options.open?.() === false ? undefined : ordinaryRoute(request, routes);
    if (route === undefined) fastifyListener.call(server, request, response);
    else {
      answer(app, options, route, request, response).catch((error: unknown) => {
        // Not expected (every failure of a handler is answered above); the caller is not left waiting.
        options.logger.error({ err: error, url: request.url }, 'the front door could not answer a request');
        response.destroy();
      });
    }
  });
}

/** The route of a request the front door answers, or undefined when fastify should. */
function ordinaryRoute(request: IncomingMessage, routes: Map<string, Route>): Route | undefined {
  if (request.method !== 'POST') return undefined;
  const route = routes.get(request.url ?? '');
  if (route === undefined) return undefined;
  const { headers } = request;
  const type = headers['content-type'];
  if (type === undefined ? hasBody(headers) : !JSON_CONTENT_TYPES.has(type)) return undefined;
  if (Number(headers['content-length']) > BODY_LIMIT_BYTES) return undefined;
  return route;
}

function hasBody(headers: IncomingHttpHeaders): boolean {
  const length = headers['content-length'];
  return headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

async function answer(app: FastifyInstance, options: FrontDoorOptions, route: Route, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const started = performance.now();
  const { headers } = request;
  const requestId = requestIdFrom(headers[REQUEST_ID_HEADER]);
  const url = request.url ?? route.path;
  let reported = false;
  const report = (): void => {
    if (reported) return;
    reported = true;
    options.observe({ requestId, method: 'POST', route: route.path, url, status: response.statusCode, elapsedMs: performance.now() - started });
  };
  response.on('finish', report).on('error', report);
  // Gathered here and written by one writeHead: node takes a plain object there faster than setHeader calls.
  const answerHeaders: OutgoingHttpHeaders = { 'content-type': JSON_ANSWER };
  const send = (status: number, payload: object): void => {
    const text = JSON.stringify(payload);
    answerHeaders['content-length'] = Buffer.byteLength(text);
    if (isDraining(app)) {
      answerHeaders.connection = 'close';
      answerHeaders[DRAINING_HEADER] = '1';
    }
    response.writeHead(status, answerHeaders);
    response.end(text);
  };
  const refuse = (error: RideShareError): void => send(error.status, errorBody(error));
  const log = (): Logger => options.logger.child({ reqId: requestId });

  // The order of fastify's hooks: same origin, then the token; the request id header after both.
  const crossSite = crossSiteRefusal('POST', headers);
  if (crossSite) return refuse(crossSite);
  const { role, refusal } = options.authorize?.(headers.authorization, route.needed) ?? { role: undefined, refusal: undefined };
  if (refusal) {
    if (refusal.code === 'UNAUTHENTICATED') answerHeaders[AUTHENTICATE_HEADER[0]] = AUTHENTICATE_HEADER[1];
    return refuse(refusal);
  }
  answerHeaders[REQUEST_ID_HEADER] = requestId;

  let body: unknown;
  try {
    body = headers['content-type'] === undefined ? undefined : parseJsonText(await readText(request));
  } catch (error) {
    // As fastify does after a body it could not take: the rest must not be read as the next request.
    answerHeaders.connection = 'close';
    if (!(error instanceof BodyTooLarge)) return refuse(codedAndLogged(error, log(), url));
    if (!(await drainOversizedBody(request))) log().warn(CUT_OFF_MESSAGE);
    return refuse(oversizedBodyError());
  }
  try {
    send(200, await route.handler({ body, role, requestId, headers }));
  } catch (error) {
    refuse(codedAndLogged(error, log(), url));
  }
}

/** The body as text, refused with BodyTooLarge past BODY_LIMIT_BYTES; decoded once at the end, so a character split across chunks stays whole. */
function readText(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const stop = (): void => {
      request.off('data', onData).off('end', onEnd).off('error', onError);
    };
    const onData = (chunk: Buffer): void => {
      length += chunk.length;
      if (length > BODY_LIMIT_BYTES) {
        stop();
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      stop();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks, length).toString('utf8'));
    };
    const onError = (error: Error): void => {
      stop();
      reject(new BadRequestError(abbreviate(error.message, 200)));
    };
    request.on('data', onData).on('end', onEnd).on('error', onError);
  });
}
