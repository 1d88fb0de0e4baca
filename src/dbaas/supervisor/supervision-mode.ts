/**
 * Whether an orchestrator supervises (config ORCHESTRATOR_SUPERVISES):
 * - `on`: it takes the supervisor lease whenever it is free, and supervises whatever it finds: a
 *   running cluster, a stopped one's files, or nothing (a new cluster);
 * - `takeover`: it takes the lease only to carry on a running cluster (live workers to adopt). A
 *   cluster with no live worker, whose data lies in another host's folder, it leaves to an `on`
 *   orchestrator: starting a new cluster there would start an empty database. `npm start` across
 *   hosts sets it on the hosts that hold no data, so that losing the database host loses no
 *   supervision;
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
