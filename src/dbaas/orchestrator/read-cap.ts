/**
 * The default row cap of db/read. A read that names no limit would otherwise bring back a whole
 * table through five processes, and past the broker's message size its reply could not even be
 * published. Such a read is asked for one row more than DEFAULT_READ_LIMIT: that row, if it
 * comes, is dropped and only tells that the answer was cut, and where the next page starts.
 * A read with a limit of its own gets exactly what it asked for.
 */
import type { Row } from '../protocol/results.ts';
import { DEFAULT_READ_LIMIT, type ReadQuery } from '../protocol/queries.ts';

/** How an answer was cut: ask again with `offset: nextOffset` (and the same order) for the rest. */
export interface CutAnswer {
  truncated: true;
  nextOffset: number;
}

/** Whether the read is capped by default; if so, its query now asks for one row beyond the cap. */
export function capByDefault(query: ReadQuery): boolean {
  if (query.limit !== undefined || query.count === true) return false;
  query.limit = DEFAULT_READ_LIMIT + 1;
  return true;
}

/** The rows of a capped read within the cap, and how to go on if there were more. */
export function cutAtCap(rows: Row[], query: ReadQuery): { rows: Row[]; cut?: CutAnswer } {
  if (rows.length <= DEFAULT_READ_LIMIT) return { rows };
  return { rows: rows.slice(0, DEFAULT_READ_LIMIT), cut: { truncated: true, nextOffset: (query.offset ?? 0) + DEFAULT_READ_LIMIT } };
}
