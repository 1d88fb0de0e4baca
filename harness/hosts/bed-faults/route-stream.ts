/**
 * Traffic through the gateways of the hosts, as the product's own clients send it: the users
 * list, the rides count, a new user and a new ride, in turn, one request at a time over every
 * gateway the clients use (the faulted host's left out while its fault lasts). Each answer is
 * kept with the time it was sent; the users and rides it acknowledged (201) are checked in the
 * replicas afterwards, beside the database history the checker holds.
 */
import { RideShareError } from '../../../src/shared/errors.ts';
import { sleep } from '../../../src/shared/timeout.ts';
import { request } from '../../http.ts';
import type { BedFaultEnvironment, BedHost } from './bed-fault-environment.ts';

export type Route = 'users list' | 'rides count' | 'new user' | 'new ride';
const ROUTES: readonly Route[] = ['users list', 'rides count', 'new user', 'new ride'];
const PASSWORD = '3d725109c7e7c0bfb9d709836735b56d943d263f';
const WHEN = '26-01-2030:00-53-09';
/** Every new ride goes to area 7, from areas 8-197: a ride from and to one area is refused (400). */
const DESTINATION = 7;
/** The gateway's own deadline is below this; past it the request counts as unanswered. */
const REQUEST_TIMEOUT_MS = 10_000;

export interface RouteAnswer {
  at: number;
  gateway: BedHost;
  route: Route;
  /** 0: no answer. */
  status: number;
  ms: number;
  /** Why no answer came (status 0), or the start of the body of an answer other than 2xx. */
  error?: string;
}

/** Requests in flight at once: one stuck on a silent instance must not stop the others. */
const LOOPS = 3;
/** How long the round waits for its base user, through db's gateway. */
const BASE_USER_WAIT_MS = 60_000;

export class RouteStream {
  readonly answers: RouteAnswer[] = [];
  /** Users and rides acknowledged with a 201 through a gateway. */
  readonly ackedUsers: string[] = [];
  readonly ackedRides: number[] = [];
  private running = false;
  private loops: Promise<void>[] = [];
  private count = 0;
  private baseUser: string;

  constructor(
    private readonly env: BedFaultEnvironment,
    /** Usernames start with it: unique per round. */
    private readonly tag: string,
    private readonly pauseMs = 50,
  ) {
    this.baseUser = `${tag}-base`;
  }

  /** Makes the user the new rides are created by (retried: the previous round's fault may still be settling), then sends until stopped. */
  async start(): Promise<void> {
    const deadline = Date.now() + BASE_USER_WAIT_MS;
    // A new name for each attempt: one that got no answer may still have been applied (a taken name is a 400).
    let base = await this.send('db', 'new user', this.baseUser);
    for (let attempt = 2; base.status !== 201 && Date.now() < deadline; attempt += 1) {
      await sleep(500);
      this.baseUser = `${this.tag}-base${attempt}`;
      base = await this.send('db', 'new user', this.baseUser);
    }
    if (base.status !== 201) throw new RideShareError('INTERNAL', `could not create a user through db's gateway within ${BASE_USER_WAIT_MS} ms: ${base.status} ${base.error ?? ''}`);
    this.running = true;
    this.loops = Array.from({ length: LOOPS }, () => this.run());
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  private async run(): Promise<void> {
    while (this.running) {
      const gateways = this.env.liveHosts();
      const gateway = gateways[this.count % gateways.length] as BedHost;
      const route = ROUTES[Math.floor(this.count / gateways.length) % ROUTES.length] as Route;
      this.count += 1;
      this.answers.push(await this.send(gateway, route, `${this.tag}-u${this.count}`));
      await sleep(this.pauseMs);
    }
  }

  private async send(gateway: BedHost, route: Route, username: string): Promise<RouteAnswer> {
    const base = this.env.gatewayUrl(gateway);
    const at = Date.now();
    try {
      const response = await (route === 'users list'
        ? request('GET', `${base}/api/v1/users`, { timeoutMs: REQUEST_TIMEOUT_MS })
        : route === 'rides count'
          ? request('GET', `${base}/api/v1/rides/count`, { timeoutMs: REQUEST_TIMEOUT_MS })
          : route === 'new user'
            ? request('PUT', `${base}/api/v1/users`, { json: { username, password: PASSWORD }, timeoutMs: REQUEST_TIMEOUT_MS })
            : request('POST', `${base}/api/v1/rides`, {
                json: { created_by: this.baseUser, timestamp: WHEN, source: String(DESTINATION + 1 + (this.count % 190)), destination: DESTINATION },
                timeoutMs: REQUEST_TIMEOUT_MS,
              }));
      if (response.status === 201 && route === 'new user') this.ackedUsers.push(username);
      const location = response.headers.location;
      if (response.status === 201 && route === 'new ride' && typeof location === 'string') this.ackedRides.push(Number(location.split('/').at(-1)));
      const refused = response.status < 200 || response.status >= 300 ? { error: response.text.slice(0, 160) } : {};
      return { at, gateway, route, status: response.status, ms: Date.now() - at, ...refused };
    } catch (error) {
      // biome-ignore lint/nursery/noBaseToString: a caught value is unknown; String() is the deliberate text for a non-Error throw
      return { at, gateway, route, status: 0, ms: Date.now() - at, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
    }
  }
}
