/**
 * Where a master restarted from files runs across hosts (src/dbaas/supervisor/restart-host.ts):
 * on the host whose agent reported the most advanced file, and only when that file holds every
 * write the commit record says was answered, or the operator gave exactly those writes up.
 */
import { describe, expect, it } from 'vitest';
import type { HostFile } from '../../src/dbaas/coordination/assignments.ts';
import { chooseRestartHost, HostFilesBehindCommitError } from '../../src/dbaas/supervisor/restart-host.ts';

const file = (workerId: string, epoch: number, appliedSeq: number): HostFile => ({ workerId, epoch, appliedSeq });
const givenUpPath = '/data/give-up-writes.json';

describe('the host a restart from files starts the master on', () => {
  it('is the one with the most advanced file, by epoch then seq, when that file covers the commit record', () => {
    const files = new Map<string, HostFile | undefined>([
      ['db', file('m-old', 2, 900)],
      ['rides', file('m-new', 3, 120)],
      ['users', file('s-1', 3, 110)],
    ]);
    expect(chooseRestartHost({ files, committed: { epoch: 3, seq: 118 }, givenUp: undefined, givenUpPath })).toEqual({ host: 'rides', file: files.get('rides'), coverage: 'covered' });
  });

  it('is refused, naming every host\u2019s file and the give-up record, when no running host holds every answered write', () => {
    const files = new Map<string, HostFile | undefined>([
      ['db', undefined],
      ['users', file('s-1', 3, 110)],
    ]);
    const choose = () => chooseRestartHost({ files, committed: { epoch: 3, seq: 118 }, givenUp: undefined, givenUpPath });
    expect(choose).toThrow(HostFilesBehindCommitError);
    expect(choose).toThrow(/users: s-1 at epoch 3, seq 110/);
    expect(choose).toThrow(/\{"epoch": 3, "seq": 118\} to \/data\/give-up-writes\.json/);
  });

  it('takes the best file there is once the operator gave up exactly that record, and nothing else releases it', () => {
    const files = new Map<string, HostFile | undefined>([['users', file('s-1', 3, 110)]]);
    expect(chooseRestartHost({ files, committed: { epoch: 3, seq: 118 }, givenUp: { epoch: 3, seq: 118 }, givenUpPath }).coverage).toBe('given-up');
    expect(() => chooseRestartHost({ files, committed: { epoch: 3, seq: 118 }, givenUp: { epoch: 3, seq: 117 }, givenUpPath })).toThrow(HostFilesBehindCommitError);
  });

  it('without a commit record takes the best file, or the first listed host (the supervisor\u2019s own) when there is none', () => {
    const some = new Map<string, HostFile | undefined>([
      ['db', undefined],
      ['users', file('s-1', 1, 5)],
    ]);
    expect(chooseRestartHost({ files: some, committed: undefined, givenUp: undefined, givenUpPath })).toMatchObject({ host: 'users', coverage: 'no-record' });
    const none = new Map<string, HostFile | undefined>([
      ['db', undefined],
      ['users', undefined],
    ]);
    expect(chooseRestartHost({ files: none, committed: undefined, givenUp: undefined, givenUpPath })).toEqual({ host: 'db', file: undefined, coverage: 'no-record' });
  });

  it('breaks a tie between equal files by host name, so every supervisor chooses alike', () => {
    const files = new Map<string, HostFile | undefined>([
      ['users', file('s-2', 3, 120)],
      ['rides', file('s-1', 3, 120)],
    ]);
    expect(chooseRestartHost({ files, committed: { epoch: 3, seq: 120 }, givenUp: undefined, givenUpPath }).host).toBe('rides');
  });
});
