/**
 * Opening an AMQP connection the way every process of the database service needs it: Nagle off
 * (41 ms per RPC otherwise), a short heartbeat so the broker drops a dead peer and its exclusive
 * consumers within seconds, and frames written in batches.
 *
 * The batching reaches into amqplib's connection for its socket: amqplib offers no seam to pass
 * a socket in or wrap its writes. So amqplib is pinned to one version (package.json), a test
 * (test/dbaas/amqp-transport.test.ts) fails when the socket can no longer be found, and a process
 * that connects without it gets one warning and works on, unbatched.
 */
import { Socket } from 'node:net';
import amqp, { type ChannelModel } from 'amqplib';

const HEARTBEAT_SECONDS = 5;
const CONNECT_TIMEOUT_MS = 5000;

export async function connectAmqp(url: string): Promise<ChannelModel> {
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
