/**
 * What the services may know of the database service: the shapes of its requests and answers and
 * the limits it enforces, as its API (docs/database-api.md) states them. The services import
 * these from here, through their database client, never from the database service's own code.
 */
export type { Row } from '../../dbaas/protocol/results.ts';
export type { ReadQuery, Where, Write } from '../../dbaas/protocol/queries.ts';
export { MAX_READ_LIMIT } from '../../dbaas/protocol/queries.ts';
export { MAX_TEXT_LENGTH } from '../../dbaas/protocol/tables.ts';
