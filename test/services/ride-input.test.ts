import { describe, expect, it } from 'vitest';
import { clockFrom } from '../../src/services/rides/clock.ts';
import { parseJoin, parseNewRide, parseRideId, parseRoute } from '../../src/services/rides/ride-input.ts';

const may2020 = clockFrom('15-05-2020:00-00-12');
const ride = { created_by: 'alice', timestamp: '21-08-2021:00-00-00', source: '3', destination: 7 };

describe('a new ride', () => {
  it('takes areas as numbers or numeric strings and the time as Unix seconds', () => {
    expect(parseNewRide(ride, may2020)).toEqual({ createdBy: 'alice', timestamp: Date.UTC(2021, 7, 21) / 1000, source: 3, destination: 7 });
  });

  it.each([
    [{ ...ride, timestamp: '15-05-2020:00-00-12' }, /in the future/],
    [{ ...ride, timestamp: '01-01-2019:00-00-00' }, /in the future/],
    [{ ...ride, timestamp: '32-08-2021:00-00-00' }, /DD-MM-YYYY:SS-MM-HH/],
    [{ ...ride, timestamp: 1629504000 }, /timestamp/],
    [{ ...ride, source: 0 }, /source: expected an area/],
    [{ ...ride, destination: '199' }, /destination: expected an area/],
    [{ ...ride, source: 'abc' }, /source: expected an area/],
    [{ ...ride, source: 3.5 }, /source: expected an area/],
    [{ ...ride, source: true }, /source/],
    [{ ...ride, destination: '3' }, /must differ/],
    [{ ...ride, extra: 1 }, /unexpected field/],
    [{ timestamp: ride.timestamp, source: 1, destination: 2 }, /created_by/],
    [{ ...ride, created_by: 7 }, /created_by/],
    [undefined, /body is required/],
  ])('refuses %j', (body, message) => {
    expect(() => parseNewRide(body, may2020)).toThrow(message);
  });

  it('refuses a 100 kB creator name without echoing it', () => {
    expect(() => parseNewRide({ ...ride, created_by: 'x'.repeat(100_000) }, may2020)).toThrow(/^created_by: must be at most 1024 characters$/);
  });
});

describe('other ride inputs', () => {
  it('a join names one user', () => {
    expect(parseJoin({ username: 'bob' })).toBe('bob');
    expect(() => parseJoin({})).toThrow(/username/);
    expect(() => parseJoin({ username: 'bob', seats: 2 })).toThrow(/unexpected field/);
  });

  it('a ride id is a positive decimal integer; one too large to exist is simply absent', () => {
    expect(parseRideId('12')).toBe(12);
    expect(parseRideId('1'.repeat(40))).toBeUndefined();
    for (const bad of ['0', '-1', '1.5', 'abc', '01', '1e3', '']) expect(() => parseRideId(bad)).toThrow(/positive integer/);
  });

  it('a route needs two distinct areas', () => {
    expect(parseRoute({ source: '3', destination: '7' })).toEqual({ source: 3, destination: 7 });
    expect(() => parseRoute({ source: '3' })).toThrow(/source=/);
    expect(() => parseRoute({ source: '3', destination: '3' })).toThrow(/must differ/);
    expect(() => parseRoute({ source: ['3', '4'], destination: '7' })).toThrow(/source/);
    expect(() => parseRoute({ source: '3', destination: '0' })).toThrow(/destination/);
  });

  it('the clock is fixed by a timestamp or follows real time', () => {
    expect(may2020()).toBe(Date.UTC(2020, 4, 15, 12, 0, 0) / 1000);
    expect(Math.abs(clockFrom(undefined)() - Date.now() / 1000)).toBeLessThan(2);
    expect(() => clockFrom('2020-05-15')).toThrow(/RIDESHARE_NOW/);
  });
});
