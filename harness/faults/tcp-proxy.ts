/**
 * A TCP proxy in the test process that the test controls link by link: every connection through
 * it is a pair of sockets, and each direction of a link can be passed, delayed (chunks keep
 * their order) or paused (the proxy stops reading, so TCP backpressure reaches the sender, as
 * with a stalled network path); a link can also be cut (RST on both sides). Links are named by
 * the client's port, which /proc maps to the process that owns the connection (proc.ts), so
 * one worker's link to the broker can be degraded while every other process goes through
 * untouched.
 */
import net from 'node:net';

export type Direction = 'to-server' | 'to-client';

export type LinkMode = { mode: 'pass' } | { mode: 'delay'; delayMs: number } | { mode: 'pause' };

export interface LinkInfo {
  id: number;
  /** The client's source port: what the client process's socket shows as its local port. */
  clientPort: number;
  /** The proxy's own port toward the server: what the server sees as this link's peer (0 until connected). */
  serverPort: number;
  openedAt: number;
  bytes: Record<Direction, number>;
  modes: Record<Direction, LinkMode['mode']>;
}

export interface TcpProxyOptions {
  targetHost?: string;
  targetPort: number;
  /** 0 (default) picks a free port; a fixed one lets clients reconnect after a restart. */
  listenPort?: number;
  /** Default 127.0.0.1; a host of the test bed listens on its own address for its peers. */
  listenHost?: string;
  /** The mode every new link starts in, both directions (default pass): a path that is slow from the first byte. */
  initialMode?: LinkMode;
}

class Pipe {
  private mode: LinkMode = { mode: 'pass' };
  /** When the previous delayed chunk is due: later chunks never overtake it. */
  private lastDueAt = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  /** The sender half-closed; passed on unless this direction is paused. */
  private ended = false;
  private endPassed = false;
  bytes = 0;

  constructor(
    private readonly from: net.Socket,
    private readonly to: net.Socket,
  ) {
    from.on('data', (chunk: Buffer) => this.forward(chunk));
    // Half-close travels like data: after the chunks still delayed, never ahead of them, and not
    // through a paused direction (a paused socket still reads its peer's FIN when nothing is
    // buffered): it passes when the direction does.
    from.on('end', () => {
      this.ended = true;
      if (this.mode.mode !== 'pause') this.passEnd();
    });
  }

  private passEnd(): void {
    if (this.endPassed) return;
    this.endPassed = true;
    this.schedule(() => this.to.end());
  }

  get modeName(): LinkMode['mode'] {
    return this.mode.mode;
  }

  set(mode: LinkMode): void {
    this.mode = mode;
    if (mode.mode === 'pause') this.from.pause();
    else {
      this.from.resume();
      if (this.ended) this.passEnd();
    }
  }

  clear(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private forward(chunk: Buffer): void {
    this.bytes += chunk.length;
    this.schedule(() => {
      if (!this.to.destroyed) this.to.write(chunk);
    });
  }

  private schedule(action: () => void): void {
    const delayMs = this.mode.mode === 'delay' ? this.mode.delayMs : 0;
    const dueAt = Math.max(Date.now() + delayMs, this.lastDueAt);
    this.lastDueAt = dueAt;
    if (dueAt <= Date.now()) {
      action();
      return;
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      action();
    }, dueAt - Date.now());
    this.timers.add(timer);
  }
}

interface Link {
  info: Omit<LinkInfo, 'bytes' | 'modes' | 'serverPort'>;
  client: net.Socket;
  server: net.Socket;
  pipes: Record<Direction, Pipe>;
  /** Partitioned: neither side hears of the other's hang-up until the heal. */
  partitioned: boolean;
  /** One side hung up while partitioned: the other learns it (a reset) at the heal. */
  hungUpInPartition: boolean;
}

export class TcpProxy {
  private readonly server: net.Server;
  private readonly links = new Map<number, Link>();
  private nextId = 1;
  private listening = 0;
  /** Connections accepted and left alone, never forwarded: a server that accepts and never answers. */
  private silent = false;
  private readonly held = new Set<net.Socket>();
  /** New links this says yes to are paused both ways from their first byte (one process cut off, reconnections too). */
  private pauseNew: ((clientPort: number) => boolean) | undefined;

  constructor(private readonly options: TcpProxyOptions) {
    this.server = net.createServer({ allowHalfOpen: true }, (client) => this.accept(client));
  }

  get port(): number {
    return this.listening;
  }

  async start(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.listenPort ?? 0, this.options.listenHost ?? '127.0.0.1', () => resolve());
    });
    this.listening = (this.server.address() as net.AddressInfo).port;
    return this.listening;
  }

  async stop(): Promise<void> {
    for (const link of this.links.values()) this.close(link, true);
    for (const socket of this.held) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  list(): LinkInfo[] {
    return [...this.links.values()].map((link) => ({
      ...link.info,
      serverPort: link.server.localPort ?? 0,
      bytes: { 'to-server': link.pipes['to-server'].bytes, 'to-client': link.pipes['to-client'].bytes },
      modes: { 'to-server': link.pipes['to-server'].modeName, 'to-client': link.pipes['to-client'].modeName },
    }));
  }

  /** Sets the mode of the links whose client port is in `clientPorts`; returns how many. */
  set(clientPorts: readonly number[], directions: readonly Direction[], mode: LinkMode): number {
    const chosen = this.matching(clientPorts);
    for (const link of chosen) for (const direction of directions) link.pipes[direction].set(mode);
    return chosen.length;
  }

  /**
   * While on, new connections are accepted and never forwarded nor answered (the server is never
   * even contacted, so it cannot close them either); turning it off forwards new connections
   * again but leaves the silent ones as they are, until stop().
   */
  acceptSilently(on: boolean): void {
    this.silent = on;
  }

  /**
   * While set, a new link whose client port the predicate accepts is paused both ways from the
   * start: a process cut off from the server stays cut off when it reconnects. Links already
   * paused stay so until heal(); undefined stops pausing new ones.
   */
  pauseNewLinks(predicate: ((clientPort: number) => boolean) | undefined): void {
    this.pauseNew = predicate;
  }

  /** How many connections are held without an answer. */
  get silentCount(): number {
    return this.held.size;
  }

  /**
   * A partition of these links: both directions paused, and a side that hangs up meanwhile (a
   * server closing the connection of a session it expired) is not heard of by the other side,
   * which keeps an open, silent connection, as across a network that drops every packet. A
   * pause alone passes such a hang-up on at once. Returns how many links.
   */
  partition(clientPorts: readonly number[]): number {
    const chosen = this.matching(clientPorts);
    for (const link of chosen) {
      link.partitioned = true;
      for (const pipe of Object.values(link.pipes)) pipe.set({ mode: 'pause' });
    }
    return chosen.length;
  }

  /**
   * Back to plain forwarding; paused bytes flow again, delayed ones arrive when due. A link one
   * side of which hung up during a partition is reset: the survivor's next packet would meet a
   * peer that no longer knows the connection.
   */
  heal(clientPorts?: readonly number[]): number {
    const chosen = clientPorts ? this.matching(clientPorts) : [...this.links.values()];
    for (const link of chosen) {
      link.partitioned = false;
      if (link.hungUpInPartition) this.close(link, true);
      else for (const pipe of Object.values(link.pipes)) pipe.set({ mode: 'pass' });
    }
    return chosen.length;
  }

  /** Cuts links with a RST on both sides: both peers see "connection reset" at once. */
  cut(clientPorts: readonly number[]): number {
    const chosen = this.matching(clientPorts);
    for (const link of chosen) this.close(link, true);
    return chosen.length;
  }

  private matching(clientPorts: readonly number[]): Link[] {
    return [...this.links.values()].filter((link) => clientPorts.includes(link.info.clientPort));
  }

  private accept(client: net.Socket): void {
    if (this.silent) {
      this.held.add(client);
      client.pause();
      client.on('error', () => undefined);
      client.on('close', () => this.held.delete(client));
      return;
    }
    const id = this.nextId++;
    client.setNoDelay(true);
    const server = net.connect({ host: this.options.targetHost ?? '127.0.0.1', port: this.options.targetPort, allowHalfOpen: true });
    server.setNoDelay(true);
    const link: Link = {
      info: { id, clientPort: client.remotePort ?? 0, openedAt: Date.now() },
      client,
      server,
      pipes: { 'to-server': new Pipe(client, server), 'to-client': new Pipe(server, client) },
      partitioned: false,
      hungUpInPartition: false,
    };
    this.links.set(id, link);
    if (this.options.initialMode) for (const pipe of Object.values(link.pipes)) pipe.set(this.options.initialMode);
    if (this.pauseNew?.(link.info.clientPort)) for (const pipe of Object.values(link.pipes)) pipe.set({ mode: 'pause' });
    // A refused or reset upstream looks to the client like the server went away, which it did.
    for (const socket of [client, server]) {
      socket.on('error', () => this.hangUp(link, socket));
      socket.on('close', () => {
        if (link.client.destroyed && link.server.destroyed) this.close(link, false);
      });
    }
  }

  private hangUp(link: Link, socket: net.Socket): void {
    if (!link.partitioned) {
      this.close(link, false);
      return;
    }
    link.hungUpInPartition = true;
    socket.destroy();
  }

  private close(link: Link, reset: boolean): void {
    if (!this.links.delete(link.info.id)) return;
    for (const pipe of Object.values(link.pipes)) pipe.clear();
    for (const socket of [link.client, link.server]) {
      if (reset && !socket.destroyed) socket.resetAndDestroy();
      else socket.destroy();
    }
  }
}
