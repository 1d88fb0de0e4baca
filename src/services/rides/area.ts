/**
 * Areas are the 198 Bangalore localities, numbered 1..198. A client may send `3` or `"3"`; a
 * string must be the plain decimal (no sign, blanks, leading zeros or exponent), so "03" and
 * "3e0" are refused rather than guessed at.
 */
import { BadRequestError } from '../../shared/errors.ts';

export const MIN_AREA = 1;
export const MAX_AREA = 198;

const CANONICAL = /^[1-9][0-9]{0,2}$/;

/** The area number, or undefined for anything that is not one of 1..198. */
export function toArea(value: unknown): number | undefined {
  let area: number;
  if (typeof value === 'number') area = value;
  else if (typeof value === 'string' && CANONICAL.test(value)) area = Number(value);
  else return undefined;
  return Number.isInteger(area) && area >= MIN_AREA && area <= MAX_AREA ? area : undefined;
}

export function requireArea(value: unknown, field: string): number {
  const area = toArea(value);
  if (area === undefined) throw new BadRequestError(`${field}: expected an area number ${MIN_AREA}..${MAX_AREA}`);
  return area;
}
