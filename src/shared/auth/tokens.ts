/**
 * The two bearer tokens of the system: `service` (what the users and rides services present to
 * the database service) and `admin` (everything, destructive operations included). They come from
 * SERVICE_TOKEN / ADMIN_TOKEN, or else from DATA_DIR/secrets/<role>.token, which the first process
 * to need them creates (mode 0600, the token alone in it), so `npm start` works with no setup and
 * every process of one DATA_DIR agrees.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { RideShareError } from '../errors.ts';

export type Role = 'service' | 'admin';

export const ROLES: readonly Role[] = ['service', 'admin'];

export type Tokens = Record<Role, string>;

export interface TokenSources {
  dataDir: string;
  /** SERVICE_TOKEN, ADMIN_TOKEN: take precedence over the files. */
  fromEnvironment: Partial<Tokens>;
}

export function secretsDirOf(dataDir: string): string {
  return path.join(dataDir, 'secrets');
}

export function tokenFile(dataDir: string, role: Role): string {
  return secretFile(dataDir, `${role}.token`);
}

/** A secret's file: DATA_DIR/secrets/<name>. */
export function secretFile(dataDir: string, name: string): string {
  return path.join(secretsDirOf(dataDir), name);
}

/** One role's token: from the environment, else its file, made now if there is none. */
export function resolveToken(sources: TokenSources, role: Role): string {
  return sources.fromEnvironment[role] ?? secretFromFile(sources.dataDir, `${role}.token`);
}

export function resolveTokens(sources: TokenSources): Tokens {
  return { service: resolveToken(sources, 'service'), admin: resolveToken(sources, 'admin') };
}

/**
 * The secret kept in DATA_DIR/secrets/<name> (32 random bytes, base64url, and nothing else: no newline either),
 * made now if there is none. Any process of the DATA_DIR may be the first to need it.
 */
export function secretFromFile(dataDir: string, name: string): string {
  const file = secretFile(dataDir, name);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  try {
    // `wx`: of several processes starting at once, one writes and the others read what it wrote.
    const token = randomBytes(32).toString('base64url');
    fs.writeFileSync(file, token, { flag: 'wx', mode: 0o600 });
    return token;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  for (let attempt = 0; ; attempt += 1) {
    const token = fs.readFileSync(file, 'utf8').trim();
    if (token !== '') return token;
    // Created a moment ago by another process that has not written it yet.
    if (attempt >= 50) throw new RideShareError('CONFIG_INVALID', `${file} is empty: delete it to have a new secret made`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
  }
}
