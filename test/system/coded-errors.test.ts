/**
 * Every error the code throws carries a code of the registry (src/shared/errors.ts): a timeout
 * says what timed out under the code its caller chose, a call in the wrong state says so, a bad
 * setting is CONFIG_INVALID, and at an HTTP edge each keeps the status its code maps to.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeReply } from '../../src/dbaas/protocol/reply.ts';
import { ProcessRuntime } from '../../src/dbaas/runtime/ProcessRuntime.ts';
import { decodeWorkerSettings } from '../../src/dbaas/worker/WorkerSettings.ts';
import { clockFrom } from '../../src/services/rides/clock.ts';
import { ERROR_CODES, RideShareError } from '../../src/shared/errors.ts';
import { toRideShareError } from '../../src/shared/http/errors.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { withTimeout } from '../../src/shared/timeout.ts';

const SRC = path.resolve(import.meta.dirname, '../../src');

/** The error a promise rejects with, for matching its code and message. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.unreachable('it resolved'),
    (error: unknown) => error,
  );
}

describe('coded errors', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rideshare-coded-'));
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  it('a timeout carries the code its caller chose and says what did not happen within how long', async () => {
    const never = new Promise<never>(() => undefined);
    const timedOut = await rejection(withTimeout(never, 20, 'TIMEOUT', 'ZooKeeper operation timed out'));
    expect(timedOut).toBeInstanceOf(RideShareError);
    expect(timedOut).toMatchObject({ code: 'TIMEOUT', message: 'ZooKeeper operation timed out within 20 ms', status: 503 });
    const unreachable = await rejection(withTimeout(never, 20, 'UNAVAILABLE', 'RabbitMQ is unreachable'));
    expect(unreachable).toMatchObject({ code: 'UNAVAILABLE', message: 'RabbitMQ is unreachable within 20 ms' });
    await expect(withTimeout(Promise.resolve(7), 20, 'TIMEOUT', 'never said')).resolves.toBe(7);
  });

  it('a call in the wrong state is INVALID_STATE: a closed runtime starts no worker', async () => {
    const runtime = new ProcessRuntime({ cluster: 'coded', logDir: work, logger: createLogger('test-coded', 'silent') });
    await runtime.close();
    const refused = await rejection(runtime.start({ workerId: 'm-1', role: 'master', settings: undefined! }));
    expect(refused).toMatchObject({ code: 'INVALID_STATE', message: 'cannot start worker m-1: the runtime is closed' });
  });

  it('a setting a process cannot start with is CONFIG_INVALID, wherever it is checked', () => {
    expect(() => clockFrom('not a time')).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(() => decodeWorkerSettings(undefined)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(() => decodeWorkerSettings('{"workerId":"m"}')).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.stringMatching(/^invalid worker settings: /) }));
  });

  it('a reply that breaks the protocol is MALFORMED_MESSAGE, though the protocol imports nothing of ours', () => {
    expect(() => decodeReply(Buffer.from('[]'))).toThrow(expect.objectContaining({ code: 'MALFORMED_MESSAGE', message: 'a reply must be an object' }));
    expect(toRideShareError(captured(() => decodeReply(Buffer.from('{"v":0}'))))).toMatchObject({ code: 'MALFORMED_MESSAGE' });
  });

  it('keeps the HTTP statuses: our own faults are 500s, an unknown error is INTERNAL with its message kept back', () => {
    for (const code of ['INTERNAL', 'INVARIANT', 'INVALID_STATE', 'CONFIG_INVALID'] as const) expect(ERROR_CODES[code].status).toBe(500);
    for (const code of ['UNAVAILABLE', 'TIMEOUT'] as const) expect(ERROR_CODES[code]).toEqual({ status: 503, retriable: true });
    expect(toRideShareError(new Error('a secret detail'))).toMatchObject({ code: 'INTERNAL', message: 'internal error', status: 500 });
    expect(toRideShareError(new RideShareError('INVALID_STATE', 'cannot start twice'))).toMatchObject({ status: 500 });
  });

  it('no source file throws a plain Error: each error is made with a code of the registry', () => {
    const plain: string[] = [];
    for (const file of sourceFiles(SRC)) {
      fs.readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, index) => {
          if (/\bnew Error\(/.test(line)) plain.push(`${path.relative(SRC, file)}:${index + 1}`);
        });
    }
    expect(plain).toEqual([]);
  });
});

function captured(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return expect.unreachable('it did not throw');
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}
