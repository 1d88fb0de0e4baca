/**
 * How a process outside the bed (a test, the soak) talks to servers inside it: the bed's
 * addresses cannot be reached from the machine's own namespace, so a relay runs inside one host
 * (bridge-relay-main.ts) and each endpoint is a local TCP port here, joined through a Unix socket
 * (a file, reachable from any namespace) to <host>:<port> as that host sees it. A client here is
 * then a client standing in that host: it sees the bed's partitions, losses and crashes as that
 * host does. Everything is the bed's: the relay dies with the bed, the sockets live in a bed folder.
 */
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RideShareError } from '../../../src/shared/errors.ts';
import type { TestBed } from '../TestBed.ts';

const RELAY_MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), 'bridge-relay-main.ts');
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const OPEN_TIMEOUT_MS = 20_000;

export class BedBridge {
  private readonly servers: net.Server[] = [];
  private readonly sockets = new Set<net.Socket>();
  private readonly endpoints = new Map<string, number>();
  private readonly waiting = new Map<string, () => void>();
  private relayOutput = '';
  private count = 0;

  private constructor(
    private readonly relay: ChildProcess,
    private readonly folder: string,
    /** The host the relay stands in. */
    readonly from: string,
  ) {
    relay.stdout?.on('data', (chunk: Buffer) => {
      this.relayOutput += chunk.toString();
      for (const match of this.relayOutput.matchAll(/^opened (\S+)$/gm)) this.waiting.get(match[1] as string)?.();
    });
  }

  static open(bed: TestBed, from: string): BedBridge {
    const relay = bed.exec(from, ['node', '--import', 'tsx', RELAY_MAIN], { cwd: REPO, hostname: false, stdio: ['pipe', 'pipe', 'inherit'] });
    return new BedBridge(relay, bed.folder('bridge'), from);
  }

  /** A local port that reaches `host`:`port` from the relay's host; the same one for the same target. */
  async port(host: string, port: number): Promise<number> {
    const key = `${host}:${port}`;
    const known = this.endpoints.get(key);
    if (known !== undefined) return known;
    this.count += 1;
    const socketPath = path.join(this.folder, `${this.count}.sock`);
    const opened = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new RideShareError('TIMEOUT', `the bed bridge did not open ${key} within ${OPEN_TIMEOUT_MS} ms`)), OPEN_TIMEOUT_MS);
      this.waiting.set(socketPath, () => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.relay.stdin?.write(`open ${socketPath} ${host} ${port}\n`);
    await opened;
    const server = net.createServer((inbound) => {
      // As the delay proxy does: a relay must not hold a small write back for the one before it to be acknowledged.
      inbound.setNoDelay(true);
      const outbound = net.connect(socketPath);
      inbound.pipe(outbound).pipe(inbound);
      this.sockets.add(inbound);
      const end = () => {
        this.sockets.delete(inbound);
        inbound.destroy();
        outbound.destroy();
      };
      inbound.on('error', end).on('close', end);
      outbound.on('error', end).on('close', end);
    });
    const local = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
    this.servers.push(server);
    this.endpoints.set(key, local);
    return local;
  }

  /** `http://127.0.0.1:<port>` reaching `host`:`port`. */
  async url(host: string, port: number): Promise<string> {
    return `http://127.0.0.1:${await this.port(host, port)}`;
  }

  close(): void {
    for (const server of this.servers) server.close();
    for (const socket of this.sockets) socket.destroy();
    this.relay.stdin?.end();
    this.relay.kill('SIGKILL');
  }
}
