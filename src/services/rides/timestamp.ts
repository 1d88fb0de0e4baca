/**
 * Ride timestamps: `DD-MM-YYYY:SS-MM-HH` (seconds before minutes before hours, as the original
 * product wrote them), read as UTC and stored as Unix seconds. Parsing is strict: two digits per
 * field, a four-digit year, a real calendar date (no 31-04, no 29-02 outside leap years), hours
 * 00..23. The arithmetic is done by hand because `Date.UTC` silently rolls 32-01 over into
 * February and maps years below 100 to the 1900s.
 */
import { BadRequestError } from '../../shared/errors.ts';

const PATTERN = /^(\d{2})-(\d{2})-(\d{4}):(\d{2})-(\d{2})-(\d{2})$/;
const SECONDS_PER_DAY = 86_400;

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

/** The inverse of daysFromCivil. */
function civilFromDays(days: number): { year: number; month: number; day: number } {
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const dayOfEra = z - era * 146_097;
  const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365);
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const mp = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return { year: yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day };
}

/** Unix seconds of a `DD-MM-YYYY:SS-MM-HH` text, or undefined when it is not a real instant. */
export function parseTimestamp(text: string): number | undefined {
  const match = PATTERN.exec(text);
  if (!match) return undefined;
  const [day, month, year, second, minute, hour] = match.slice(1).map(Number) as [number, number, number, number, number, number];
  if (year < 1 || month < 1 || month > 12) return undefined;
  if (day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  return daysFromCivil(year, month, day) * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second;
}

/** Like parseTimestamp, but a bad text is the client's 400. */
export function requireTimestamp(text: string, field = 'timestamp'): number {
  const seconds = parseTimestamp(text);
  if (seconds === undefined) {
    throw new BadRequestError(`${field}: expected a real date and time as DD-MM-YYYY:SS-MM-HH (e.g. 26-01-2030:00-53-09)`);
  }
  return seconds;
}

const two = (value: number): string => String(value).padStart(2, '0');

export function formatTimestamp(unixSeconds: number): string {
  const days = Math.floor(unixSeconds / SECONDS_PER_DAY);
  const secondOfDay = unixSeconds - days * SECONDS_PER_DAY;
  const { year, month, day } = civilFromDays(days);
  const hour = Math.floor(secondOfDay / 3600);
  const minute = Math.floor((secondOfDay % 3600) / 60);
  const second = secondOfDay % 60;
  return `${two(day)}-${two(month)}-${String(year).padStart(4, '0')}:${two(second)}-${two(minute)}-${two(hour)}`;
}
