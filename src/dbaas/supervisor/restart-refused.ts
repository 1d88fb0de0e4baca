/**
 * A restart from files the supervisor will not make now: the file a master would start from may
 * lack acknowledged writes (a folder it cannot read, a best file behind the last commit record).
 * Nothing is started; every supervision pass tries again, since the missing data may come back
 * (a folder mounted again, a file copied in), and the cluster answers 503 meanwhile.
 */
import { RideShareError } from '../../shared/errors.ts';

/** How every refusal's message begins (the orchestrator's readiness then says it; other hosts' starts look for it: database-host-ready.ts). */
export const RESTART_REFUSED = 'refusing to restart the cluster from files';

export class RestartRefusedError extends RideShareError {
  /** `why` follows RESTART_REFUSED and a colon. */
  constructor(why: string) {
    super('UNAVAILABLE', `${RESTART_REFUSED}: ${why}`);
  }
}
