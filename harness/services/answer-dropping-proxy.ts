/**
 * A real HTTP proxy in front of the real orchestrator, for the one failure the database service
 * cannot be asked to produce on cue: a write that was applied but whose answer never reached
 * the caller. Every request is forwarded and its real answer recorded; the answers of the next
 * writes can be dropped instead of passed on, either by closing the connection (a lost answer
 * seen at once) or by never answering (a lost answer seen only when the caller's deadline ends).
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Pool } from 'undici';

export type Drop = 'close' | 'silence';

export interface Exchange {
  path: string;
  body: Record<string, unknown>;
  /** The orchestrator's answer, whether or not it was passed on. */
  status: number;
  answer: Record<string, unknown>;
  dropped?: Drop;
}

export class AnswerDroppingProxy {
  readonly exchanges: Exchange[] = [];
  readonly #upstream: Pool;
  readonly #drops: Drop[] = [];
  readonly #server: http.Server;
  // Silenced callers stay connected until they give up; stop() must not wait for them.
  readonly #held = new Set<Socket>();

  constructor(orchestratorUrl: string) {
    this.#upstream = new Pool(orchestratorUrl, { connections: 8 });
    this.#server = http.createServer((req, res) => void this.#forward(req, res));
  }

  /** The answers of the next `count` writes are dropped, the writes themselves still applied. */
  dropWriteAnswers(count: number, how: Drop): void {
    for (let i = 0; i < count; i += 1) this.#drops.push(how);
  }

  /** Forgets drops not yet used. */
  clearDrops(): void {
    this.#drops.length = 0;
  }

  writes(since = 0): Exchange[] {
    return this.exchanges.slice(since).filter((exchange) => exchange.path === '/api/v1/db/write');
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const socket of this.#held) socket.destroy();
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
    await this.#upstream.close();
  }

  async #forward(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const path = req.url ?? '/';
    let status: number;
    let answerText: string;
    try {
      const response = await this.#upstream.request({
        method: (req.method ?? 'POST') as 'POST',
        path,
        headers: req.headers['content-type'] === undefined ? {} : { 'content-type': req.headers['content-type'] },
        body: text === '' ? undefined : text,
      });
      status = response.statusCode;
      answerText = await response.body.text();
    } catch {
      // The orchestrator is gone: the caller must see what it would see without a proxy.
      req.socket.destroy();
      return;
    }
    const dropped = path === '/api/v1/db/write' ? this.#drops.shift() : undefined;
    this.exchanges.push({
      path,
      body: (text === '' ? {} : JSON.parse(text)) as Record<string, unknown>,
      status,
      answer: JSON.parse(answerText) as Record<string, unknown>,
      ...(dropped ? { dropped } : {}),
    });
    if (dropped === 'close') {
      req.socket.destroy();
      return;
    }
    if (dropped === 'silence') {
      this.#held.add(req.socket);
      req.socket.once('close', () => this.#held.delete(req.socket));
      return;
    }
    res.writeHead(status, { 'content-type': 'application/json' }).end(answerText);
  }
}
