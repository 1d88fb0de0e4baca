import { describe, expect, it } from 'vitest';
import { formatTimestamp, parseTimestamp, requireTimestamp } from '../../src/services/rides/timestamp.ts';

describe('ride timestamps (DD-MM-YYYY:SS-MM-HH, UTC)', () => {
  it('reads seconds, minutes and hours in that order', () => {
    expect(parseTimestamp('26-01-2030:00-53-09')).toBe(Date.UTC(2030, 0, 26, 9, 53, 0) / 1000);
    expect(parseTimestamp('21-08-2021:07-05-23')).toBe(Date.UTC(2021, 7, 21, 23, 5, 7) / 1000);
  });

  it('formats back to the same text', () => {
    for (const text of ['26-01-2030:00-53-09', '01-01-1970:00-00-00', '29-02-2024:59-59-23', '31-12-9999:59-59-23', '01-03-2000:01-02-03']) {
      const seconds = parseTimestamp(text);
      expect(seconds).toBeTypeOf('number');
      expect(formatTimestamp(seconds as number)).toBe(text);
    }
  });

  it('agrees with Date for every day of a few years around the epoch and leap days', () => {
    for (let day = -800; day < 20_000; day += 7) {
      const seconds = day * 86_400 + 3661;
      const date = new Date(seconds * 1000);
      const text = `${String(date.getUTCDate()).padStart(2, '0')}-${String(date.getUTCMonth() + 1).padStart(2, '0')}-${date.getUTCFullYear()}:01-01-01`;
      expect(formatTimestamp(seconds)).toBe(text);
      expect(parseTimestamp(text)).toBe(seconds);
    }
  });

  it.each([
    ['32-01-2030:00-00-00', 'day 32'],
    ['31-04-2030:00-00-00', '31 April'],
    ['29-02-2021:00-00-00', '29 February of a non-leap year'],
    ['29-02-1900:00-00-00', '29 February of a century that is not a leap year'],
    ['00-01-2030:00-00-00', 'day 0'],
    ['01-13-2030:00-00-00', 'month 13'],
    ['01-00-2030:00-00-00', 'month 0'],
    ['01-01-2030:00-00-24', 'hour 24'],
    ['01-01-2030:00-60-00', 'minute 60'],
    ['01-01-2030:60-00-00', 'second 60'],
    ['1-01-2030:00-00-00', 'a one-digit day'],
    ['01-01-30:00-00-00', 'a two-digit year'],
    ['01-01-2030:00-00-000', 'a three-digit hour'],
    ['01-01-2030 00-00-00', 'a space for the colon'],
    ['01/01/2030:00-00-00', 'slashes'],
    [' 01-01-2030:00-00-00', 'a leading blank'],
    ['01-01-2030:00-00-00\n', 'a trailing newline'],
    ['٠١-01-2030:00-00-00', 'non-ASCII digits'],
    ['', 'nothing'],
  ])('refuses %j (%s)', (text) => {
    expect(parseTimestamp(text)).toBeUndefined();
    expect(() => requireTimestamp(text)).toThrow(/DD-MM-YYYY:SS-MM-HH/);
  });

  it('accepts 29 February in leap years, 2000 included', () => {
    expect(parseTimestamp('29-02-2000:00-00-00')).toBe(Date.UTC(2000, 1, 29) / 1000);
    expect(parseTimestamp('29-02-2024:00-00-00')).toBe(Date.UTC(2024, 1, 29) / 1000);
  });
});
