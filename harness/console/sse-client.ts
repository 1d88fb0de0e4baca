/**
 * A small server-sent-events client for tests, on node:http (closing it closes its connection;
 * fetch's pool would open spare connections after an abort that keep a server's close waiting).
 */
import http from 'node:http';

export interface SseEvent {
  event: string;
  data: string;
}

/** A refused stream: its status, headers and body. */
export interface Refusal {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export class SseClient {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  /** Resolves when the server ends the stream (or the client closes it). */
  readonly ended: Promise<void>;
  private readonly waiters = new Set<() => void>();
  private buffer = '';

  private constructor(
    readonly response: http.IncomingMessage,
    private readonly request: http.ClientRequest,
  ) {
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => this.receive(chunk));
    this.ended = new Promise<void>((resolve) => {
      response.on('close', resolve);
      request.on('error', () => resolve());
    }).finally(() => this.wake());
  }

  /** Opens the stream; a refusal (not 200) is answered as such, with no client. */
  /** `localAddress`: connect from this address (any 127.x.y.z on loopback), to stand for another client host. */
  static open(url: string, headers: Record<string, string> = {}, localAddress?: string): Promise<SseClient | Refusal> {
    return new Promise((resolve, reject) => {
      const request = http.get(url, { headers: { accept: 'text/event-stream', ...headers }, agent: false, ...(localAddress ? { localAddress } : {}) }, (response) => {
        if (response.statusCode === 200) return resolve(new SseClient(response, request));
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
      });
      request.on('error', reject);
    });
  }

  close(): void {
    this.request.destroy();
  }

  /** The first event from index `from` on that satisfies `match`; fails after `timeoutMs`. */
  async next(match: (event: SseEvent) => boolean, timeoutMs: number, from = 0): Promise<SseEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.slice(from).find(match);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching server-sent event within ${timeoutMs} ms (${this.events.length} received)`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.add(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
    this.waiters.clear();
  }

  private receive(chunk: string): void {
    this.buffer += chunk;
    for (let end = this.buffer.indexOf('\n\n'); end >= 0; end = this.buffer.indexOf('\n\n')) {
      this.parse(this.buffer.slice(0, end));
      this.buffer = this.buffer.slice(end + 2);
    }
  }

  private parse(block: string): void {
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) this.comments.push(line.slice(1).trim());
      else if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (data.length > 0) {
      this.events.push({ event, data: data.join('\n') });
      this.wake();
    }
  }
}
