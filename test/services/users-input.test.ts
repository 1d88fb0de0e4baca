import { describe, expect, it } from 'vitest';
import { isValidPassword } from '../../src/services/users/password.ts';
import { parseNewUser } from '../../src/services/users/user-body.ts';

const password = '3d725109c7e7c0bfb9d709836735b56d943d263f';

describe('passwords', () => {
  it('are exactly 40 hexadecimal digits, either case', () => {
    expect(isValidPassword(password)).toBe(true);
    expect(isValidPassword(password.toUpperCase())).toBe(true);
    expect(isValidPassword('aB'.repeat(20))).toBe(true);
  });

  it.each([password.slice(1), `${password}0`, `${password.slice(1)}g`, ` ${password.slice(1)}`, '', 40, null, undefined])('refuses %j', (value) => {
    expect(isValidPassword(value)).toBe(false);
  });
});

describe('the body of PUT /api/v1/users', () => {
  it('gives the username and password', () => {
    expect(parseNewUser({ username: 'alice', password })).toEqual({ username: 'alice', password });
  });

  it.each([
    [undefined, /body is required/],
    [null, /must be a JSON object/],
    [[], /must be a JSON object/],
    ['alice', /must be a JSON object/],
    [{ password }, /username/],
    [{ username: 'alice' }, /password/],
    [{ username: 42, password }, /username/],
    [{ username: 'alice', password: 42 }, /password/],
    [{ username: '', password }, /username: must not be empty/],
    [{ username: 'alice', password: 'xyz' }, /password: must be exactly 40 hexadecimal digits/],
    [{ username: 'alice', password, admin: true }, /unexpected field\(s\): 'admin'/],
    [{ username: 'x'.repeat(100_000), password }, /^username: must be at most 1024 characters$/],
  ])('refuses body #%# with a 400 that says what is wrong', (body, message) => {
    expect(() => parseNewUser(body)).toThrow(message);
    try {
      parseNewUser(body);
    } catch (error) {
      expect((error as { status: number }).status).toBe(400);
      expect((error as Error).message.length).toBeLessThan(300);
    }
  });
});
