/**
 * "Now" for the rides service. A fixed instant (config RIDESHARE_NOW) makes "upcoming" stable for
 * tests and for replays of the original grading, whose rides were dated 2021.
 */
import { parseTimestamp } from './timestamp.ts';
import { RideShareError } from '../../shared/errors.ts';

/** Current Unix seconds. */
export type Clock = () => number;

export const systemClock: Clock = () => Math.floor(Date.now() / 1000);

/** A clock stopped at `DD-MM-YYYY:SS-MM-HH`, or the real one when no instant is given. */
export function clockFrom(fixedAt: string | undefined): Clock {
  if (fixedAt === undefined) return systemClock;
  const seconds = parseTimestamp(fixedAt);
  if (seconds === undefined) throw new RideShareError('CONFIG_INVALID', `RIDESHARE_NOW '${fixedAt}' is not a DD-MM-YYYY:SS-MM-HH timestamp`);
  return () => seconds;
}
