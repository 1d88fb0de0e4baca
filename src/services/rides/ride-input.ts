/**
 * What clients send the rides service, checked before anything is stored or anyone is asked:
 * a new ride, a join, a ride id in the path, a route in the query string.
 */
import { z } from 'zod';
import { BadRequestError } from '../../shared/errors.ts';
import { parseBody, usernameSchema } from '../http/validation.ts';
import { requireArea } from './area.ts';
import type { Clock } from './clock.ts';
import { requireTimestamp } from './timestamp.ts';

export interface NewRide {
  createdBy: string;
  /** Unix seconds, strictly after the service clock. */
  timestamp: number;
  source: number;
  destination: number;
}

export interface Route {
  source: number;
  destination: number;
}

/** Where a page of a route's rides starts: after this ride, in (timestamp, id) order. */
export interface RideCursor {
  timestamp: number;
  rideId: number;
}

const areaField = z.union([z.number(), z.string()], 'expected an area number or a numeric string');

const newRideSchema = z.strictObject({
  created_by: usernameSchema,
  timestamp: z.string(),
  source: areaField,
  destination: areaField,
});

const joinSchema = z.strictObject({ username: usernameSchema });

function requireDistinct(route: Route): Route {
  if (route.source === route.destination) throw new BadRequestError('source and destination must differ');
  return route;
}

export function parseNewRide(body: unknown, now: Clock): NewRide {
  const raw = parseBody(newRideSchema, body);
  const timestamp = requireTimestamp(raw.timestamp);
  const route = requireDistinct({ source: requireArea(raw.source, 'source'), destination: requireArea(raw.destination, 'destination') });
  if (timestamp <= now()) throw new BadRequestError('timestamp: the ride must be in the future');
  return { createdBy: raw.created_by, timestamp, ...route };
}

export function parseJoin(body: unknown): string {
  return parseBody(joinSchema, body).username;
}

const RIDE_ID = /^[1-9][0-9]*$/;

/**
 * A ride id from the path: a positive decimal integer. One beyond 2^53 is well formed but cannot
 * have been assigned, so it is answered as "no such ride" (undefined) rather than as malformed.
 */
export function parseRideId(text: string): number | undefined {
  if (!RIDE_ID.test(text)) throw new BadRequestError('the ride id must be a positive integer');
  const id = Number(text);
  return Number.isSafeInteger(id) ? id : undefined;
}

export function parseRoute(query: unknown): Route {
  const { source, destination } = (query ?? {}) as Record<string, unknown>;
  if (source === undefined || destination === undefined) throw new BadRequestError('give both ?source= and ?destination=');
  return requireDistinct({ source: requireArea(source, 'source'), destination: requireArea(destination, 'destination') });
}

const CURSOR = /^([0-9]{1,16})\.([0-9]{1,16})$/;

/** `?after=<timestamp>.<rideId>`, as the previous page's X-Next-After gave it. */
export function parseRideCursor(text: string | undefined): RideCursor | undefined {
  if (text === undefined) return undefined;
  const match = CURSOR.exec(text);
  const cursor = match ? { timestamp: Number(match[1]), rideId: Number(match[2]) } : undefined;
  if (!cursor || !Number.isSafeInteger(cursor.timestamp) || !Number.isSafeInteger(cursor.rideId)) {
    throw new BadRequestError('after: the X-Next-After of the previous page (<timestamp>.<rideId>)');
  }
  return cursor;
}

export function rideCursorOf(ride: { timestamp: number; rideId: number }): string {
  return `${ride.timestamp}.${ride.rideId}`;
}
