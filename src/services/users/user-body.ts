/** The body of `PUT /api/v1/users`: exactly a username and a password, both strings. */
import { z } from 'zod';
import { parseBody, usernameSchema } from '../http/validation.ts';
import { PASSWORD_PATTERN } from './password.ts';

export interface NewUser {
  username: string;
  password: string;
}

const newUserSchema = z.strictObject({
  username: usernameSchema,
  password: z.string().regex(PASSWORD_PATTERN, 'must be exactly 40 hexadecimal digits'),
});

export function parseNewUser(body: unknown): NewUser {
  return parseBody(newUserSchema, body);
}
