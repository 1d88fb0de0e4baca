/**
 * Requests to the product's gateways on a test bed, made from inside a host (this process cannot
 * reach the bed's addresses) by http-requests.mjs: a list sent once in turn, or a steady stream.
 * Each answer comes back as a GatewayResult; `missingThrough` reads users and rides back through
 * every gateway named.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestBed } from './TestBed.ts';

const CLIENT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'http-requests.mjs');
const PASSWORD = '3d725109c7e7c0bfb9d709836735b56d943d263f';
const WHEN = '26-01-2030:00-53-09';
const GATEWAY_PORT = 8080;

export interface GatewayRequest {
  label?: string;
  method?: string;
  url: string;
  body?: unknown;
  /** An orchestrator's API wants a bearer token (authorization). */
  headers?: Record<string, string>;
}

export interface GatewayResult {
  /** Epoch ms when it was sent. */
  at: number;
  label?: string;
  method: string;
  url: string;
  /** 0: no answer within the client's 10 s. */
  status: number;
  ms: number;
  body: string;
  /** The body as sent ("{n}" replaced). */
  sent?: string;
  location?: string;
}

function parseResults(text: string): GatewayResult[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as GatewayResult);
}

export class GatewayRequests {
  constructor(private readonly bed: TestBed) {}

  gateway(host: string): string {
    return `http://${this.bed.address(host)}:${GATEWAY_PORT}`;
  }

  /** The requests in turn, from inside `from`. */
  async send(from: string, list: GatewayRequest[]): Promise<GatewayResult[]> {
    return parseResults(await this.bed.run(from, ['node', CLIENT, 'once', JSON.stringify(list)], { hostname: false, timeoutMs: 120_000 }));
  }

  /** The list in turn, one request every `pauseMs` for `durationMs`, from inside `from`; `results` fills as answers come. */
  stream(from: string, list: GatewayRequest[], durationMs: number, pauseMs: number): { results: GatewayResult[]; done: Promise<void> } {
    const results: GatewayResult[] = [];
    const child = this.bed.exec(from, ['node', CLIENT, 'loop', JSON.stringify(list), String(durationMs), String(pauseMs)], { hostname: false, stdio: ['ignore', 'pipe', 'pipe'] });
    let partial = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      results.push(...parseResults(lines.join('\n')));
    });
    const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    return { results, done };
  }

  newUser(host: string, username: string): GatewayRequest {
    return { label: `user ${username}`, method: 'PUT', url: `${this.gateway(host)}/api/v1/users`, body: { username, password: PASSWORD } };
  }

  newRide(host: string, createdBy: string, source: number): GatewayRequest {
    return { label: `ride by ${createdBy}`, method: 'POST', url: `${this.gateway(host)}/api/v1/rides`, body: { created_by: createdBy, timestamp: WHEN, source: String(source), destination: 7 } };
  }

  /** Every user named that is not listed, and every ride not found, through the gateway of each host in `through` ("<what> <status> through <host>"). */
  async missingThrough(from: string, through: readonly string[], usernames: readonly string[], rideLocations: readonly string[]): Promise<string[]> {
    const missing: string[] = [];
    for (const host of through) {
      // One by one (`?username=`): the list comes in pages.
      const users = await this.send(
        from,
        usernames.map((name) => ({ label: name, url: `${this.gateway(host)}/api/v1/users?username=${encodeURIComponent(name)}` })),
      );
      for (const user of users) {
        if (user.status !== 200 || !(JSON.parse(user.body) as string[]).includes(user.label as string)) missing.push(`user ${user.label} ${user.status} through ${host}`);
      }
      const rides = await this.send(
        from,
        rideLocations.map((location) => ({ url: `${this.gateway(host)}${location}` })),
      );
      for (const ride of rides) if (ride.status !== 200) missing.push(`ride ${ride.url} ${ride.status} through ${host}`);
    }
    return missing;
  }
}
