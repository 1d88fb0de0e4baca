/** Shared values and small helpers of the service scenarios. */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { DbClient } from '../../src/services/dbclient/db-client.ts';
import type { HttpResponse } from '../http.ts';
import type { Stack } from './stack.ts';

/** The rides clock in the scenarios: 15 May 2020, 12:00:00 UTC. */
export const MAY_2020 = '15-05-2020:00-00-12';
export const AUG_2021 = '21-08-2021:00-00-00';
/**
 * The reference data beside the repository (../shared/data), wherever the repository is checked
 * out; a checkout elsewhere names the folder with SHARED_DATA_DIR (.ci/run does for a CI clone).
 */
export const AREAS_FILE = [
  fileURLToPath(new URL('../../../shared/data/AreaNameEnum.csv', import.meta.url)),
  ...(process.env.SHARED_DATA_DIR ? [path.join(process.env.SHARED_DATA_DIR, 'AreaNameEnum.csv')] : []),
].find((file) => fs.existsSync(file)) as string;
export const PASSWORD = '3d725109c7e7c0bfb9d709836735b56d943d263f';

export interface ScenarioContext {
  stack(): Stack;
  /** A client of the same database service, to set up what the API cannot (a past ride). */
  db(): DbClient;
}

export function unique(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** Asserts the common error shape `{error, code}` and the status. */
export function expectError(result: HttpResponse, status: number, code: string): void {
  expect({ status: result.status, code: (result.body as { code?: unknown } | undefined)?.code }).toEqual({ status, code });
  expect(typeof (result.body as { error?: unknown }).error).toBe('string');
  expect(result.headers['content-type']).toMatch(/^application\/json/);
}

export function expectEmpty(result: HttpResponse, status = 204): void {
  expect(result.status).toBe(status);
  expect(result.text).toBe('');
}

export async function addUser(stack: Stack, username = unique('user')): Promise<string> {
  const result = await stack.gateway.put('/api/v1/users', { username, password: PASSWORD });
  expect(result.status).toBe(201);
  return username;
}

export interface RideFields {
  created_by: string;
  timestamp?: string;
  source?: number | string;
  destination?: number | string;
}

export async function addRide(stack: Stack, fields: RideFields): Promise<number> {
  const result = await stack.gateway.post('/api/v1/rides', { timestamp: AUG_2021, source: 3, destination: 7, ...fields });
  expect(result.status).toBe(201);
  const location = String(result.headers.location);
  expect(location).toMatch(/^\/api\/v1\/rides\/[1-9][0-9]*$/);
  return Number(location.split('/').at(-1));
}

/** A service instance's `_count`. */
export async function countOf(client: Stack['gateway']): Promise<number> {
  const result = await client.get('/api/v1/_count');
  expect(result.status).toBe(200);
  return (result.body as number[])[0] as number;
}

/** The `_count` of a service summed over its instances (the gateway spreads requests over them). */
export async function totalCount(instances: Stack['gateway'][]): Promise<number> {
  const counts = await Promise.all(instances.map(countOf));
  return counts.reduce((sum, count) => sum + count, 0);
}

export async function resetCounts(instances: Stack['gateway'][]): Promise<void> {
  for (const instance of instances) expect((await instance.delete('/api/v1/_count')).status).toBe(200);
}
