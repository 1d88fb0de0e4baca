/** The body of `PUT /api/v1/scaling/slaves`: `{"slaves": n}` with n an integer from 0 to MAX_SLAVES. */
import { BadRequestError } from '../../shared/errors.ts';

export function parseSlaveCount(body: unknown, maxSlaves: number): number {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BadRequestError('the body must be a JSON object: {"slaves": n}');
  }
  const extra = Object.keys(body).filter((key) => key !== 'slaves');
  if (extra.length > 0) throw new BadRequestError(`unknown field: ${extra[0]?.slice(0, 40)} (the body is {"slaves": n})`);
  const { slaves } = body as { slaves?: unknown };
  if (slaves === undefined) throw new BadRequestError('slaves is missing (the body is {"slaves": n})');
  if (typeof slaves !== 'number' || !Number.isInteger(slaves) || slaves < 0 || slaves > maxSlaves) {
    throw new BadRequestError(`slaves must be an integer from 0 to ${maxSlaves} (MAX_SLAVES)`);
  }
  return slaves;
}
