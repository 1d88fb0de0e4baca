/**
 * The users table as the users service sees it, through the database client. Conflicts come back
 * as the spec's 400s: a taken username is a client mistake, not a server conflict.
 */
import { z } from 'zod';
import { BadRequestError, RideShareError } from '../../shared/errors.ts';
import type { CallCredentials, DbClient } from '../dbclient/db-client.ts';
import type { NewUser } from './user-body.ts';

const usernameRow = z.object({ username: z.string() });

export class UsersStore {
  constructor(private readonly db: DbClient) {}

  async add(user: NewUser): Promise<void> {
    try {
      await this.db.write({ op: 'insert', table: 'users', values: { username: user.username, password: user.password } });
    } catch (error) {
      if (error instanceof RideShareError && error.code === 'UNIQUE_VIOLATION') {
        throw new BadRequestError('this username is already taken');
      }
      throw error;
    }
  }

  /** Deletes the user; the database's cascade takes their rides and seats with them. */
  async remove(username: string): Promise<boolean> {
    const result = await this.db.write({ op: 'delete', table: 'users', where: { username } });
    return result.changes > 0;
  }

  /** An operator's action: the database service takes a delete of every row from the admin role only. */
  async removeAll(credentials: CallCredentials): Promise<void> {
    await this.db.write({ op: 'delete', table: 'users', where: {} }, credentials);
  }

  /** Up to `size` names in order, after `after` when given; `more` when others follow. */
  async list(size: number, after?: string): Promise<{ names: string[]; more: boolean }> {
    const { rows } = await this.db.read({
      table: 'users',
      columns: ['username'],
      ...(after === undefined ? {} : { where: { username: { gt: after } } }),
      orderBy: [{ column: 'username', direction: 'asc' }],
      // One more than the page, only to learn whether another page follows.
      limit: size + 1,
    });
    const names = rows.map((row) => usernameRow.parse(row).username);
    return { names: names.slice(0, size), more: names.length > size };
  }

  /**
   * Looks one name up by its primary key. `fresh` because the caller is usually the rides service
   * checking a user another instance created a moment ago: a lagging slave must not deny them.
   */
  async exists(username: string): Promise<boolean> {
    const { rows } = await this.db.read({ table: 'users', columns: ['username'], where: { username }, limit: 1, fresh: true });
    return rows.length > 0;
  }
}
