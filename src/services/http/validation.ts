/**
 * Request validation shared by both services: bodies are checked against zod schemas and the
 * first problem is reported as a 400 that names the field, never echoing a huge value back.
 */
import { z } from 'zod';
import { BadRequestError } from '../../shared/errors.ts';
import { MAX_TEXT_LENGTH } from '../dbclient/contract.ts';

/** The database refuses longer texts, so a longer name can be neither stored nor found. */
export const MAX_USERNAME_LENGTH = MAX_TEXT_LENGTH;

export const usernameSchema = z.string().min(1, 'must not be empty').max(MAX_USERNAME_LENGTH, `must be at most ${MAX_USERNAME_LENGTH} characters`);

export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid body';
  if (issue.code === 'unrecognized_keys') return `unexpected field(s): ${issue.keys.map((key) => `'${key.slice(0, 40)}'`).join(', ')}`;
  const path = issue.path.map(String).join('.');
  return path ? `${path}: ${issue.message}` : issue.message;
}

/** Parses a JSON body (already decoded) that must be an object of the given shape. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  if (body === undefined) throw new BadRequestError('a JSON body is required');
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new BadRequestError('the body must be a JSON object');
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new BadRequestError(describeIssue(parsed.error));
  return parsed.data;
}
