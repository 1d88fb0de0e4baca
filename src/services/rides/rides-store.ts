/**
 * The rides and ride_members tables as the rides service sees them, through the database client.
 * The database's foreign keys and cascades keep rides consistent with users; this file turns
 * their conflicts into outcomes the routes can answer with the spec's status codes.
 */
import { z } from 'zod';
import { BadRequestError, RideShareError } from '../../shared/errors.ts';
import type { CallCredentials, DbClient } from '../dbclient/db-client.ts';
import { MAX_READ_LIMIT, type Where } from '../dbclient/contract.ts';
import type { NewRide, RideCursor, Route } from './ride-input.ts';

export interface Ride {
  rideId: number;
  createdBy: string;
  timestamp: number;
  source: number;
  destination: number;
}

export type JoinOutcome = 'joined' | 'already-joined' | 'missing-ride-or-user';

const rideRow = z.object({
  ride_id: z.number().int(),
  created_by: z.string(),
  timestamp: z.number().int(),
  source: z.number().int(),
  destination: z.number().int(),
});
const memberRow = z.object({ username: z.string() });
const countRow = z.object({ count: z.number().int() });

function toRide(row: unknown): Ride {
  const parsed = rideRow.parse(row);
  return { rideId: parsed.ride_id, createdBy: parsed.created_by, timestamp: parsed.timestamp, source: parsed.source, destination: parsed.destination };
}

function hasCode(error: unknown, code: string): boolean {
  return error instanceof RideShareError && error.code === code;
}

export class RidesStore {
  constructor(private readonly db: DbClient) {}

  /** Stores the ride and returns the id the database assigned (never reused). */
  async create(ride: NewRide): Promise<number> {
    try {
      const result = await this.db.write({
        op: 'insert',
        table: 'rides',
        values: { created_by: ride.createdBy, timestamp: ride.timestamp, source: ride.source, destination: ride.destination },
      });
      if (result.insertId === undefined) throw new RideShareError('INTERNAL', 'the database did not say which id the ride got');
      return result.insertId;
    } catch (error) {
      // The users service vouched for the creator a moment ago; they were deleted since.
      if (hasCode(error, 'FOREIGN_KEY_VIOLATION')) throw new BadRequestError('unknown user');
      throw error;
    }
  }

  /**
   * Up to `size` rides of the route after `now`, earliest first (ties by id), starting after the
   * ride `from` names when given; `more` when others follow. The query language ANDs its
   * conditions, so "after (timestamp, id)" is two reads: the rest of that timestamp, then later ones.
   */
  async upcoming(route: Route, now: number, size: number, from?: RideCursor): Promise<{ rides: Ride[]; more: boolean }> {
    // One more than the page, only to learn whether another page follows.
    const wanted = size + 1;
    const rides: Ride[] = [];
    if (from !== undefined && from.timestamp > now) {
      rides.push(...(await this.onRoute(route, { timestamp: from.timestamp, ride_id: { gt: from.rideId } }, wanted)));
    }
    if (rides.length < wanted) {
      const later = Math.max(now, from?.timestamp ?? now);
      rides.push(...(await this.onRoute(route, { timestamp: { gt: later } }, wanted - rides.length)));
    }
    return { rides: rides.slice(0, size), more: rides.length > size };
  }

  private async onRoute(route: Route, where: Where, limit: number): Promise<Ride[]> {
    const { rows } = await this.db.read({
      table: 'rides',
      where: { source: route.source, destination: route.destination, ...where },
      orderBy: [
        { column: 'timestamp', direction: 'asc' },
        { column: 'ride_id', direction: 'asc' },
      ],
      limit,
    });
    return rows.map(toRide);
  }

  async find(rideId: number): Promise<Ride | undefined> {
    const { rows } = await this.db.read({ table: 'rides', where: { ride_id: rideId }, limit: 1 });
    return rows[0] === undefined ? undefined : toRide(rows[0]);
  }

  /** Who joined the ride, by name (the schema keeps no joining order). */
  async members(rideId: number): Promise<string[]> {
    const { rows } = await this.db.read({
      table: 'ride_members',
      columns: ['username'],
      where: { ride_id: rideId },
      orderBy: [{ column: 'username', direction: 'asc' }],
      // The details list every member: more than the default cap of a read, if need be.
      limit: MAX_READ_LIMIT,
    });
    return rows.map((row) => memberRow.parse(row).username);
  }

  async join(rideId: number, username: string): Promise<JoinOutcome> {
    try {
      await this.db.write({ op: 'insert', table: 'ride_members', values: { ride_id: rideId, username } });
      return 'joined';
    } catch (error) {
      if (hasCode(error, 'UNIQUE_VIOLATION')) return 'already-joined';
      if (hasCode(error, 'FOREIGN_KEY_VIOLATION')) return 'missing-ride-or-user';
      throw error;
    }
  }

  /** Deletes the ride; the database's cascade takes its seats with it. */
  async remove(rideId: number): Promise<boolean> {
    const result = await this.db.write({ op: 'delete', table: 'rides', where: { ride_id: rideId } });
    return result.changes > 0;
  }

  /** An operator's action: the database service takes a delete of every row from the admin role only. */
  async removeAll(credentials: CallCredentials): Promise<void> {
    await this.db.write({ op: 'delete', table: 'rides', where: {} }, credentials);
  }

  async count(): Promise<number> {
    const { rows } = await this.db.read({ table: 'rides', count: true });
    return countRow.parse(rows[0] ?? { count: 0 }).count;
  }
}
