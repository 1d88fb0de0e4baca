/**
 * Notices a ZooKeeper connection whose handshake is never answered. node-zookeeper-client bounds
 * only the TCP connect (a session timeout shared among the servers): once a server's machine
 * accepts the connection, the library waits for the handshake reply for ever. A frozen server (a
 * host whose processes are stopped: its kernel still accepts connections) or one that accepted
 * while it boots never answers, and the client sat there until its session was declared lost,
 * while the other servers of the ensemble served again: a frozen database host cost every process
 * of the other hosts its session, every slave with it. While the client is not connected, the
 * watch looks at the library's socket every `limitMs / 5`; one that has waited `limitMs` without
 * the client connecting is dropped, and the library goes on to the next server, keeping the session.
 * The wait is measured on the monotonic clock, so a step of the host's wall clock is not taken for one.
 */
export interface HandshakeWatchOptions {
  /** The library's socket now (a new one for each attempt), if any. */
  socket: () => object | undefined;
  /** Drops that socket: the library then tries the next server. */
  drop: (socket: object) => void;
  limitMs: number;
}

export class HandshakeWatch {
  private pending: { socket: object; since: number } | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly options: HandshakeWatchOptions) {
    this.timer = setInterval(() => this.check(), Math.max(1, Math.floor(options.limitMs / 5)));
    // A watch never keeps a process alive by itself.
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private check(): void {
    const socket = this.options.socket();
    if (!socket) return;
    if (this.pending?.socket !== socket) {
      this.pending = { socket, since: performance.now() };
      return;
    }
    if (performance.now() - this.pending.since < this.options.limitMs) return;
    this.pending = undefined;
    this.options.drop(socket);
  }
}
