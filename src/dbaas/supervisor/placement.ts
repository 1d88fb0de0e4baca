/**
 * Which host runs a new worker, when workers are placed through host agents. A master and its
 * slaves on different hosts, so one host lost costs the cluster either its master (a slave
 * elsewhere takes over) or some slaves, never both; slaves spread over the hosts, the least
 * loaded first. A master restarted from files is not placed here: it starts on the host whose
 * agent reports the best file (restart-host.ts). With one host every worker goes there.
 */
import { UnavailableError } from '../../shared/errors.ts';
import type { PlacementInput } from '../runtime/AssignedRuntime.ts';

export type { PlacementInput };

export function chooseHost(input: PlacementInput): string {
  const { hosts, ownHost } = input;
  if (hosts.length === 0) throw new UnavailableError('no host agent is running: no host can start a worker');
  const load = (host: string) => input.workersOn.get(host)?.length ?? 0;
  const hasMaster = (host: string) => input.workersOn.get(host)?.some((worker) => worker.role === 'master') ?? false;
  const hasSlave = (host: string) => input.workersOn.get(host)?.some((worker) => worker.role === 'slave') ?? false;
  // Away from the other role where another host allows it.
  const apart = hosts.filter((host) => (input.role === 'slave' ? !hasMaster(host) : !hasSlave(host)));
  const candidates = apart.length > 0 ? apart : hosts;
  // The least loaded; on a tie the supervisor's own host for a master (its files are there), then by name.
  const preferred = (host: string) => (input.role === 'master' && host === ownHost ? 0 : 1);
  return [...candidates].sort((a, b) => load(a) - load(b) || preferred(a) - preferred(b) || a.localeCompare(b))[0] as string;
}
