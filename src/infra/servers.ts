/**
 * Finds or starts the RabbitMQ and ZooKeeper servers the service needs. The resolution order is a
 * product requirement: (a) a configured address must answer, or we fail; (b) else a server already
 * answering on the default local port; (c) else a private instance from the installed Debian
 * binaries, with its own ports and data under `${dataDir}/servers/<kind>`; (d) when the binaries
 * are missing, root installs the Debian package first and anyone else gets told which one to install.
 *
 * What is specific to one server lives in rabbitmq.ts / zookeeper.ts as a `ServerKind`; this file
 * owns the mechanics they share (probing, ports, spawning, stopping, the pid file, apt-get).
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { Logger } from '../shared/logger.ts';
import { redactUrl } from '../shared/redact.ts';
import { freePorts } from '../shared/ports.ts';
import { identify, isSameProcess, killGroupAtExit, sendSignal, signalGroup, spawnGroupLeader, terminate, type ProcessIdentity } from '../shared/processes.ts';
import { rabbitMqKind } from './rabbitmq.ts';
import type { Endpoint, ServerKind } from './server-kind.ts';
import { zooKeeperKind } from './zookeeper.ts';
import { RideShareError, UnavailableError } from '../shared/errors.ts';
import { monotonicNow } from '../shared/monotonic.ts';

export interface ServerHandle {
  /**
   * RabbitMQ: a private broker's `amqp://rideshare:<password>@127.0.0.1:PORT/rideshare`, the
   * machine's own `amqp://guest:guest@127.0.0.1:5672`, or the configured URL. ZooKeeper:
   * `127.0.0.1:PORT`. Log it through redactUrl only.
   */
  address: string;
  startedHere: boolean;
  pid?: number;
  /** Stops what this call started; a no-op for a server that was found running. */
  stop(): Promise<void>;
  /** SIGKILL, now, to what this call started (a forced stop); a no-op for a server that was found running. */
  kill(): void;
}

interface EnsureOptions {
  dataDir: string;
  logger: Logger;
  /** How long a configured address may take to answer (default 10 s). */
  timeoutMs?: number;
  /** Skip the default-port lookup, e.g. for tests that must not share a server. */
  alwaysPrivate?: boolean;
}

export async function ensureRabbitMq(opts: EnsureOptions & { configuredUrl?: string }): Promise<ServerHandle> {
  return ensureServer(rabbitMqKind, opts.configuredUrl, opts);
}

/** `tickMs` (default 500) sets the shortest session (2 × tick) and how finely expiry is timed. */
export async function ensureZooKeeper(opts: EnsureOptions & { configuredConnect?: string; tickMs?: number }): Promise<ServerHandle> {
  return ensureServer(zooKeeperKind(opts.tickMs ?? 500), opts.configuredConnect, opts);
}

async function ensureServer(kind: ServerKind, configured: string | undefined, opts: EnsureOptions): Promise<ServerHandle> {
  const log = opts.logger.child({ server: kind.name });
  const address = configured?.trim();
  if (address) {
    await waitForConfigured(kind, address, opts.timeoutMs ?? 10_000);
    log.info({ address: redactUrl(address) }, 'using the configured server');
    return foundRunning(address);
  }
  if (!opts.alwaysPrivate && (await probe(kind, { host: '127.0.0.1', port: kind.defaultPort }, 1500)).answered) {
    log.info({ port: kind.defaultPort }, 'using the local server on the default port');
    return foundRunning(kind.foundAddress(kind.defaultPort));
  }
  await ensureInstalled(kind, log);
  return startPrivate(kind, path.join(opts.dataDir, 'servers', kind.dirName), log);
}

function foundRunning(address: string): ServerHandle {
  return { address, startedHere: false, stop: async () => {}, kill: () => {} };
}

// ---- probing -----------------------------------------------------------------------------------

async function probe(kind: ServerKind, ep: Endpoint, timeoutMs: number): Promise<{ answered: boolean; ready: boolean; problem?: string }> {
  const hello = ep.connectOnly ? undefined : kind.hello;
  const { connected, reply, problem } = await talk(ep, hello, timeoutMs, kind.enough);
  if (ep.connectOnly) return { answered: connected, ready: connected, problem };
  const answered = reply.length > 0 && kind.answers(reply);
  return {
    answered,
    ready: answered && kind.ready(reply),
    problem: problem ?? (answered ? undefined : `unexpected reply ${JSON.stringify(reply.toString('latin1').slice(0, 80))}`),
  };
}

function talk(ep: Endpoint, hello: Buffer | undefined, timeoutMs: number, enough: (reply: Buffer) => boolean) {
  return new Promise<{ connected: boolean; reply: Buffer; problem?: string }>((resolve) => {
    const chunks: Buffer[] = [];
    let connected = false;
    let problem: string | undefined;
    const socket = net.connect({ host: ep.host, port: ep.port });
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ connected, reply: Buffer.concat(chunks), problem });
    };
    const timer = setTimeout(() => {
      problem ??= `no reply within ${timeoutMs} ms`;
      finish();
    }, timeoutMs);
    socket.on('connect', () => {
      connected = true;
      if (hello) socket.write(hello);
      else finish();
    });
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (enough(Buffer.concat(chunks))) finish();
    });
    socket.on('error', (err) => {
      problem = err.message;
      finish();
    });
    socket.on('close', finish);
  });
}

/** Retries until the deadline because a configured server may still be starting next to us. */
async function waitForConfigured(kind: ServerKind, address: string, timeoutMs: number): Promise<void> {
  const endpoints = kind.parseAddress(address);
  const deadline = monotonicNow() + timeoutMs;
  let lastProblem = 'no attempt';
  for (;;) {
    for (const ep of endpoints) {
      const left = Math.max(100, Math.min(2000, deadline - monotonicNow()));
      const result = await probe(kind, ep, left);
      if (result.answered) return;
      lastProblem = `${ep.host}:${ep.port}: ${result.problem ?? 'no answer'}`;
    }
    if (monotonicNow() >= deadline) {
      throw new UnavailableError(
        `${kind.name} at the configured address ${redactUrl(address)} did not answer within ${timeoutMs} ms ` + `(last error: ${lastProblem}); check the address or start the server`,
      );
    }
    await sleep(Math.min(250, Math.max(0, deadline - monotonicNow())));
  }
}

// ---- installation ------------------------------------------------------------------------------

/** Installs rabbitmq-server and zookeeper from Debian when their binaries are missing (as for a private server). */
export async function ensureServerPackages(logger: Logger): Promise<void> {
  await ensureInstalled(rabbitMqKind, logger.child({ server: rabbitMqKind.name }));
  const zookeeper = zooKeeperKind(500);
  await ensureInstalled(zookeeper, logger.child({ server: zookeeper.name }));
}

const execFileP = promisify(execFile);
/** dpkg takes a lock, so installs requested in parallel must run one after another. */
let aptQueue: Promise<unknown> = Promise.resolve();

async function ensureInstalled(kind: ServerKind, log: Logger): Promise<void> {
  const missing = kind.missingBinaries();
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new RideShareError(
      'CONFIG_INVALID',
      `${kind.name} is not answering on port ${kind.defaultPort} and cannot be started here: ` +
        `${missing.join(', ')} not found. Install the Debian package "${kind.debPackage}" ` +
        `(sudo apt-get install ${kind.debPackage}) or configure the address of a running server`,
    );
  }
  const run = aptQueue.catch(() => undefined).then(() => aptInstall(kind.debPackage, log));
  aptQueue = run;
  await run;
  const still = kind.missingBinaries();
  if (still.length > 0) throw new RideShareError('START_FAILED', `installed ${kind.debPackage} but ${still.join(', ')} is still missing`);
}

async function aptInstall(pkg: string, log: Logger): Promise<void> {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const options = { env, maxBuffer: 64 * 1024 * 1024, killSignal: 'SIGKILL' as const };
  log.warn({ pkg }, 'binaries missing; installing the Debian package');
  try {
    await execFileP('apt-get', ['update'], { ...options, timeout: 300_000 });
    await execFileP('apt-get', ['install', '-y', pkg], { ...options, timeout: 900_000 });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new RideShareError('START_FAILED', `apt-get install ${pkg} failed: ${(err as Error).message}\n${stderr.slice(-2000)}`);
  }
}

// ---- private instances -------------------------------------------------------------------------

interface PidRecord {
  pid: number;
  pidStart: string;
  ownerPid: number;
  ownerStart: string;
  ports: number[];
}

/**
 * A live private server recorded in the pid file is never reused: if its owner process is still
 * alive the directory is in use and we fail (two owners would stop each other's server); if the
 * owner is gone the server is an orphan of a crashed run and we kill it, then start afresh.
 * Start times from /proc guard against pids the kernel has since handed to someone else.
 */
async function reclaimDir(kind: ServerKind, dir: string, log: Logger): Promise<void> {
  let rec: PidRecord;
  try {
    rec = JSON.parse(await readFile(path.join(dir, 'pid.json'), 'utf8')) as PidRecord;
  } catch {
    return;
  }
  if (procStart(rec.pid) !== rec.pidStart) return;
  if (procStart(rec.ownerPid) === rec.ownerStart) {
    throw new RideShareError('TAKEN', `the private ${kind.name} in ${dir} (pid ${rec.pid}) belongs to running process ${rec.ownerPid}; stop that process or use another data directory`);
  }
  log.warn({ serverPid: rec.pid, ports: rec.ports }, 'killing a private server orphaned by an earlier run');
  const orphan: ProcessIdentity = { pid: rec.pid, startTime: rec.pidStart };
  await stopProcess(rec.pid, () => isSameProcess(orphan), kind.stopGraceMs, log);
}

async function startPrivate(kind: ServerKind, dir: string, log: Logger): Promise<ServerHandle> {
  await mkdir(dir, { recursive: true });
  await reclaimDir(kind, dir, log);
  const ports = await freePorts(kind.portsNeeded);
  const port = ports[0]!;
  const launch = await kind.prepare(dir, ports, log);
  const logFiles = [path.join(dir, 'stdout.log'), ...launch.extraLogs];
  // Own process group, so stop() can reach helpers the server forks (kill -PGID).
  const child = spawnGroupLeader(launch.command, launch.args, { cwd: dir, env: launch.env, logFile: logFiles[0]!, freshLog: true });
  let spawnError: Error | undefined;
  child.on('error', (err) => (spawnError = err));
  const pid = child.pid;
  if (pid === undefined) {
    await sleep(0);
    throw new RideShareError('START_FAILED', `could not run ${launch.command} for ${kind.name}: ${spawnError?.message ?? 'spawn failed'}`);
  }
  child.unref();
  // A private server must not outlive a process that exits without calling stop().
  const spare = killGroupAtExit(pid);
  const record: PidRecord = { pid, pidStart: procStart(pid) ?? '', ownerPid: process.pid, ownerStart: procStart(process.pid) ?? '', ports };
  await writeFile(path.join(dir, 'pid.json'), JSON.stringify(record));
  const began = monotonicNow();
  try {
    await waitReady(kind, child, port, logFiles);
  } catch (err) {
    await stopProcess(pid, childAlive(child), 2000, log);
    spare();
    await rm(path.join(dir, 'pid.json'), { force: true });
    throw err;
  }
  const address = launch.address;
  log.info({ address: redactUrl(address), serverPid: pid, ms: monotonicNow() - began, dir }, 'started a private server');
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await stopProcess(pid, childAlive(child), kind.stopGraceMs, log);
      spare();
      await rm(path.join(dir, 'pid.json'), { force: true });
      log.info({ serverPid: pid }, 'stopped the private server');
    })());
  const kill = () => {
    signalGroup(pid, 'SIGKILL');
    spare();
    rmSync(path.join(dir, 'pid.json'), { force: true });
  };
  return { address, startedHere: true, pid, stop, kill };
}

async function waitReady(kind: ServerKind, child: ChildProcess, port: number, logFiles: string[]): Promise<void> {
  const deadline = monotonicNow() + kind.startTimeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const how = child.signalCode ?? `code ${child.exitCode}`;
      throw new RideShareError('START_FAILED', `private ${kind.name} exited (${how}) before it was ready on port ${port}\n${await logTail(logFiles)}`);
    }
    if ((await probe(kind, { host: '127.0.0.1', port }, 1000)).ready) return;
    if (monotonicNow() >= deadline) {
      throw new RideShareError('START_FAILED', `private ${kind.name} was not ready on port ${port} within ${kind.startTimeoutMs} ms\n${await logTail(logFiles)}`);
    }
    await sleep(100);
  }
}

async function logTail(files: string[]): Promise<string> {
  const parts: string[] = [];
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch(() => '');
    if (text.trim()) parts.push(`--- tail of ${file}\n${text.slice(-2000)}`);
  }
  return parts.length > 0 ? parts.join('\n') : '(the server wrote no log)';
}

// ---- processes ---------------------------------------------------------------------------------

/** /proc's start time of a live process (a zombie counts as gone); pid + start time never repeats. */
function procStart(pid: number): string | undefined {
  return identify(pid)?.startTime;
}

/**
 * SIGTERM to the server, SIGKILL to its whole group after the grace, and to the group once more
 * at the end: helpers forked by the server (Erlang's port programs) may outlive the leader.
 */
async function stopProcess(pid: number, alive: () => boolean, graceMs: number, log: Logger): Promise<void> {
  const stopped = await terminate({
    signal: (sig) => (sig === 'SIGTERM' ? sendSignal(pid, sig) : signalGroup(pid, sig)),
    alive,
    graceMs,
    onEscalate: () => log.warn({ serverPid: pid, graceMs }, 'server ignored SIGTERM; killing its process group'),
  });
  if (!stopped) throw new RideShareError('INTERNAL', `process ${pid} survived SIGKILL`);
  signalGroup(pid, 'SIGKILL');
}

/** Our child is alive until node has seen it exit (its pid cannot be reused before). */
function childAlive(child: ChildProcess): () => boolean {
  return () => child.exitCode === null && child.signalCode === null;
}
