/**
 * Opening an AMQP connection the way every process of the database service needs it: Nagle off
 * (41 ms per RPC otherwise), a short heartbeat so the broker drops a dead peer and its exclusive
 * consumers within seconds, and frames written in batches.
 *
 * The batching reaches into amqplib's connection for its socket: amqplib offers no seam to pass
 * a socket in or wrap its writes. So amqplib is pinned to one version (package.json), a test
 * (test/dbaas/amqp-transport.test.ts) fails when the socket can no longer be found, and a process
 * that connects without it gets one warning and works on, unbatched.
 *
 * The address may name several nodes of one RabbitMQ cluster, comma-separated (AMQP_URL): a
 * connection goes to the first that accepts it, and a node whose connection was lost, or that
 * could not be reached, is tried last for a while, so the caller's reconnect (RpcClient, a
 * worker's restart) lands on another node instead of waiting for the lost one to time out.
 */
import { Socket } from 'node:net';
import amqp, { type ChannelModel } from 'amqplib';
import { UnavailableError } from '../../shared/errors.ts';
import { redactUrl } from '../../shared/redact.ts';
import { amqpUrlList } from '../../shared/amqp-urls.ts';
import { monotonicNow } from '../../shared/monotonic.ts';

const HEARTBEAT_SECONDS = 5;
const CONNECT_TIMEOUT_MS = 5000;
/** How long a node that failed stays at the back of the list. */
const SUSPECT_MS = 30_000;

/** When each node (by URL) last failed us: lost its connection or refused a new one. */
const lastFailure = new Map<string, number>();
/** The node (URL) each open connection went to: a caller may want to know it is not its first choice. */
const nodeOfConnection = new WeakMap<ChannelModel, string>();

/** `address`: one AMQP URL, or several nodes of a cluster separated by commas. */
export async function connectAmqp(address: string): Promise<ChannelModel> {
  const urls = amqpUrlList(address);
  const failures: string[] = [];
  for (const url of byPreference(urls)) {
    try {
      const model = await connectOne(url);
      lastFailure.delete(url);
      nodeOfConnection.set(model, url);
      // A close with an error is a lost node (a close we asked for carries none).
      model.on('close', (error?: unknown) => {
        if (error) lastFailure.set(url, monotonicNow());
      });
      return model;
    } catch (error) {
      // One node alone: its own error, as before lists existed.
      if (urls.length === 1) throw error;
      lastFailure.set(url, monotonicNow());
      failures.push(`${redactUrl(url)}: ${(error as Error).message}`);
    }
  }
  throw new UnavailableError(`no RabbitMQ node accepted a connection (${failures.join('; ')})`);
}

/** The node (its URL in the address) a connection of connectAmqp went to. */
export function nodeOf(model: ChannelModel): string | undefined {
  return nodeOfConnection.get(model);
}

/** The list's order, except that nodes that failed in the last SUSPECT_MS go last, the longest-ago first. */
function byPreference(urls: string[]): string[] {
  const now = monotonicNow();
  const suspect = (url: string) => now - (lastFailure.get(url) ?? -Infinity) < SUSPECT_MS;
  const fresh = urls.filter((url) => !suspect(url));
  const failed = urls.filter(suspect).sort((a, b) => (lastFailure.get(a) ?? 0) - (lastFailure.get(b) ?? 0));
  return [...fresh, ...failed];
}

async function connectOne(url: string): Promise<ChannelModel> {
  const parsed = new URL(url);
  if (!parsed.searchParams.has('heartbeat')) parsed.searchParams.set('heartbeat', String(HEARTBEAT_SECONDS));
  const model = await amqp.connect(parsed.toString(), { noDelay: true, timeout: CONNECT_TIMEOUT_MS });
  const socket = socketOf(model);
  if (socket) coalesceWrites(socket);
  else warnOnce();
  return model;
}

/** True when this connection's frame writes are batched (amqplib's internals are as expected). */
export function writesCoalesced(model: ChannelModel): boolean {
  return (socketOf(model) as CoalescedSocket | undefined)?.[COALESCED] === true;
}

const COALESCED = Symbol('rideshare.coalesced');
type CoalescedSocket = Socket & { [COALESCED]?: true };

function socketOf(model: ChannelModel): Socket | undefined {
  const stream = (model.connection as unknown as { stream?: unknown }).stream;
  return stream instanceof Socket ? stream : undefined;
}

let warned = false;
function warnOnce(): void {
  if (warned) return;
  warned = true;
  process.emitWarning('amqplib no longer exposes its socket where expected: AMQP frames are written one by one (slower, still correct)', 'RideShareWarning');
}

/**
 * amqplib writes every frame with its own socket write, and with Nagle off each is a syscall
 * and a packet: under load that was a quarter of the orchestrator's CPU. Corking the socket
 * for one turn of the event loop sends everything written in that turn in one writev.
 */
function coalesceWrites(socket: CoalescedSocket): void {
  socket[COALESCED] = true;
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  let corked = false;
  socket.write = ((...args: unknown[]) => {
    if (!corked) {
      corked = true;
      socket.cork();
      setImmediate(() => {
        corked = false;
        socket.uncork();
      });
    }
    return write(...args);
  }) as Socket['write'];
}
