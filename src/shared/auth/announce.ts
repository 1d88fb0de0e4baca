/** What a process says at start-up about authorization: loudly when it is off. */
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { secretsDirOf } from './tokens.ts';

export function announceAuth(config: Config, logger: Logger): void {
  if (!config.RIDESHARE_AUTH) {
    logger.warn(
      'RIDESHARE_AUTH=off: the database service takes every call from anyone who reaches it, db/clear and crash included. ' +
        'Use this only to replay the original 2020 graders, on a machine nobody else can reach.',
    );
    return;
  }
  const from = (variable: string | undefined) => (variable === undefined ? secretsDirOf(config.DATA_DIR) : 'the environment');
  logger.info({ serviceToken: from(config.SERVICE_TOKEN), adminToken: from(config.ADMIN_TOKEN) }, 'bearer tokens required by the database service');
}
