/**
 * The time that durations, deadlines and windows are measured on: milliseconds since the epoch as
 * the wall clock read when this process started, plus the time elapsed since on the monotonic
 * clock. A step of the host's wall clock (an NTP correction, `date -s`, a faked clock) moves
 * Date.now() but not this, so a timeout, a retry window or a scaling window keeps its length. It
 * still reads as a date, close to the wall clock unless that was stepped since the start: wall
 * time itself (what a log line or a ride's time says) stays Date.now(). Whole milliseconds, as
 * Date.now() gives them: what is computed from it may go where only an integer is taken
 * (AbortSignal.timeout, a header).
 */
export function monotonicNow(): number {
  return Math.floor(performance.timeOrigin + performance.now());
}
