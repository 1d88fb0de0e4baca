/**
 * `GET /api/v1/cluster/stream`: the cluster status pushed as server-sent events. The whole status
 * is sent at once and again whenever it changes (`event: status`); a status that cannot be read
 * is told as `event: problem` with the reason. A comment line every `heartbeatMs` keeps proxies
 * and the browser from taking a quiet stream for a dead one. Open streams hold slots
 * (StreamSlots.ts: bounded in all and per client address, some kept for the admin role); a client
 * that disconnects stops its share of the work, and the server's close ends every stream
 * (EventSource then reconnects by itself).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { roleOf } from '../../../shared/http/auth.ts';
import { defineResource } from '../../../shared/http/resource.ts';
import { ClusterFeed, type ChangeSource, type FeedMessage } from './ClusterFeed.ts';
import { DEFAULT_STREAM_SLOTS, StreamSlots, type StreamSlotLimits } from './StreamSlots.ts';

export const CLUSTER_STREAM_PATH = '/api/v1/cluster/stream';

export interface ClusterStreamOptions<T extends object> {
  status(): Promise<T>;
  /** Supervision events: a change worth reading the status at once. */
  changes?: ChangeSource;
  pollMs?: number;
  heartbeatMs?: number;
  /** Default DEFAULT_STREAM_SLOTS: 32 in all, 8 of them for the admin role, 4 per client address. */
  slots?: Partial<StreamSlotLimits>;
}

/** How soon EventSource reconnects after the stream ends. */
const RETRY_MS = 1500;
/** A client that reads nothing while this much waits for it is dropped (it reconnects if alive). */
const MAX_BUFFERED_BYTES = 1 << 20;

export function registerClusterStream<T extends object>(app: FastifyInstance, options: ClusterStreamOptions<T>): void {
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const slots = new StreamSlots({ ...DEFAULT_STREAM_SLOTS, ...options.slots });
  const feed = new ClusterFeed<T>({ read: options.status, pollMs: options.pollMs ?? 500, ...(options.changes ? { changes: options.changes } : {}) });
  const open = new Set<() => void>();

  const serve = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    // The socket's own address, never X-Forwarded-For: a header would let one host pass for many.
    const slot = slots.take(request.raw.socket.remoteAddress ?? 'unknown', roleOf(request) === 'admin');
    reply.hijack();
    const response = reply.raw;
    // Headers hooks set so far (the request id) go out with the stream's own.
    for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) response.setHeader(name, value);
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    if (request.method === 'HEAD') {
      slot.release();
      response.end();
      return reply;
    }
    response.write(`retry: ${RETRY_MS}\n\n`);
    const write = (text: string): void => {
      if (response.writableEnded) return;
      if (response.writableLength > MAX_BUFFERED_BYTES) {
        end();
        return;
      }
      response.write(text);
    };
    const heartbeat = setInterval(() => write(`: heartbeat ${new Date().toISOString()}\n\n`), heartbeatMs);
    let unsubscribe = (): void => undefined;
    const end = (): void => {
      if (!open.delete(end)) return;
      slot.release();
      clearInterval(heartbeat);
      unsubscribe();
      if (!response.writableEnded) response.end();
    };
    open.add(end);
    request.raw.on('close', end);
    response.on('close', end);
    unsubscribe = feed.subscribe((message) => write(formatEvent(message)));
    return reply;
  };

  defineResource(app, CLUSTER_STREAM_PATH, { GET: serve });
  // Open streams would keep the server from closing: end them first.
  app.addHook('preClose', async () => {
    for (const end of [...open]) end();
    feed.close();
  });
}

function formatEvent<T>(message: FeedMessage<T>): string {
  if (message.kind === 'status') return `event: status\ndata: ${JSON.stringify(message.status)}\n\n`;
  return `event: problem\ndata: ${JSON.stringify({ error: message.message })}\n\n`;
}
