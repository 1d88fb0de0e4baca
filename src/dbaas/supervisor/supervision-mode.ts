/**
 * Whether an orchestrator supervises (config ORCHESTRATOR_SUPERVISES):
 * - `on`: it takes the supervisor lease whenever it is free, and supervises whatever it finds: a
 *   running cluster, a stopped one's files, or nothing (a new cluster);
 * - `takeover`: it takes the lease only to carry on a running cluster (live workers to adopt), and
 *   never starts a new one: started where the data is not, that would be an empty database. A
 *   cluster whose every worker died it restarts from files only across hosts, from a host whose
 *   agent reports a file holding every acknowledged write (restart-host.ts); otherwise it leaves
 *   the restart to an `on` orchestrator. `npm start` across hosts sets it on the hosts that hold
 *   no data at first, so that losing the database host loses no supervision;
 * - `off`: it never supervises, it only serves the database's API.
 */
import { RideShareError } from '../../shared/errors.ts';

export type SupervisionMode = 'on' | 'off' | 'takeover';

/** A `takeover` supervisor found no running cluster to carry on (or its cluster needs a restart from files). */
export class NoRunningClusterError extends RideShareError {
  constructor(message: string) {
    super('UNAVAILABLE', message);
  }
}
