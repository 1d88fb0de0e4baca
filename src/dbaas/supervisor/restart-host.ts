/**
 * Across hosts, where a master restarted from files runs: on the host that holds the cluster's
 * most advanced worker file, as each host's agent reports it (HostAgent: every report carries the
 * position of the best file in its host's folder). Files are never copied between hosts: no
 * orchestrator reaches another host, so the master goes to the file instead.
 *
 * The file must hold every write ZooKeeper's commit record says was answered. When no host whose
 * agent runs has such a file, a host that is down may have it (the master's own host, lost with
 * it): the restart waits for that host, refused on every pass until it is back, unless the
 * operator gave those writes up (given-up-writes.ts), which restarts from the best file there is.
 */
import type { HostFile } from '../coordination/assignments.ts';
import type { CommitRecord } from '../coordination/commit-record.ts';
import { coversCommit } from './commit-coverage.ts';
import { RestartRefusedError } from './restart-refused.ts';

export interface RestartHost {
  host: string;
  /** The host's best file; none when no host has a readable one. */
  file: HostFile | undefined;
  /** Why starting from that file loses no acknowledged write: it covers the commit record, there is none, or the operator gave the rest up. */
  coverage: 'covered' | 'no-record' | 'given-up';
}

export interface RestartHostInput {
  /** Every host whose agent runs now, with the best file it reported. */
  files: ReadonlyMap<string, HostFile | undefined>;
  committed: CommitRecord | undefined;
  /** The operator's give-up record, if one is in the supervisor's DATA_DIR. */
  givenUp: CommitRecord | undefined;
  /** Where the operator writes it, for the refusal to say. */
  givenUpPath: string;
}

export function chooseRestartHost(input: RestartHostInput): RestartHost {
  const ranked = [...input.files]
    .filter((entry): entry is [string, HostFile] => entry[1] !== undefined)
    .sort(([hostA, a], [hostB, b]) => b.epoch - a.epoch || b.appliedSeq - a.appliedSeq || hostA.localeCompare(hostB));
  const best = ranked[0];
  const { committed } = input;
  if (!committed) {
    if (best) return { host: best[0], file: best[1], coverage: 'no-record' };
    // The runtime lists the supervisor's own host first (AssignedRuntime.filesOnHosts).
    const host = [...input.files.keys()][0];
    if (host === undefined) throw new RestartRefusedError('no host agent is running');
    return { host, file: undefined, coverage: 'no-record' };
  }
  if (best && coversCommit(best[1], committed)) return { host: best[0], file: best[1], coverage: 'covered' };
  if (best && input.givenUp && input.givenUp.epoch === committed.epoch && input.givenUp.seq === committed.seq) return { host: best[0], file: best[1], coverage: 'given-up' };
  throw new HostFilesBehindCommitError(committed, ranked, input.givenUpPath);
}

export class HostFilesBehindCommitError extends RestartRefusedError {
  constructor(committed: CommitRecord, ranked: readonly [string, HostFile][], givenUpPath: string) {
    const seen = ranked.length > 0 ? ranked.map(([host, file]) => `${host}: ${file.workerId} at epoch ${file.epoch}, seq ${file.appliedSeq}`).join('; ') : 'no readable worker file on any of them';
    super(
      `ZooKeeper's commit record says every write up to seq ${committed.seq} of epoch ${committed.epoch} was acknowledged, ` +
        `and no host whose agent runs now has a file that holds them all (${seen}). A host that is down may have it: the restart waits for that host to start again. ` +
        `If it is gone for good, give those writes up: write {"epoch": ${committed.epoch}, "seq": ${committed.seq}} to ${givenUpPath}.`,
    );
  }
}
