/**
 * A URL as logs show it: the first LOGGED_URL_CHARS characters and how long it really was. A path
 * may be as long as a request head (256 KiB, limits.ts); written whole into each access line and
 * error line at every hop, five such requests once added 1.9 MiB to the logs.
 */
export const LOGGED_URL_CHARS = 200;

export function loggedUrl(url: string): string {
  if (url.length <= LOGGED_URL_CHARS) return url;
  return `${url.slice(0, LOGGED_URL_CHARS)}…(${Buffer.byteLength(url)} bytes)`;
}
