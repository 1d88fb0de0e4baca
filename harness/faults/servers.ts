/**
 * Private RabbitMQ and ZooKeeper instances that a fault test may kill, freeze and start again on
 * the same ports and data directories (src/infra/servers.ts starts a server once, on fresh
 * ports, and treats a second start in the same directory as an orphan to reclaim). The launch
 * itself (configuration files, node name, command line) is src/infra's, so the servers under
 * test are configured exactly as `npm start` configures its private ones.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { rabbitMqKind } from '../../src/infra/rabbitmq.ts';
import type { ServerKind } from '../../src/infra/server-kind.ts';
import { zooKeeperKind } from '../../src/infra/zookeeper.ts';
import { freePorts } from '../../src/shared/ports.ts';
import { killGroupAtExit, spawnGroupLeader } from '../../src/shared/processes.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { sleep } from '../../src/shared/timeout.ts';
import { signal } from './proc.ts';

const logger = createLogger('fault-servers', process.env.LOG_LEVEL ?? 'warn');

export interface ServerExit {
  at: number;
  pid: number;
  how: string;
  /** False when the harness killed or stopped it on purpose. */
  unexpected: boolean;
}

export class RestartableServer {
  private child: ChildProcess | undefined;
  /** Resolves when the current child's exit event has been seen (pid reaped). */
  private gone: Promise<void> = Promise.resolve();
  private alive = false;
  private intended = false;
  /** What the launch said clients use (a private RabbitMQ's credentials included); the same for every start in one directory. */
  private launchAddress: string | undefined;
  /** The environment the server was launched with: its control tools need the same (node name, cookie). */
  private launchEnv: NodeJS.ProcessEnv | undefined;
  readonly exits: ServerExit[] = [];

  private constructor(
    private readonly kind: ServerKind,
    readonly dir: string,
    readonly ports: number[],
  ) {}

  static async rabbitMq(dir: string): Promise<RestartableServer> {
    return new RestartableServer(rabbitMqKind, dir, await freePorts(rabbitMqKind.portsNeeded));
  }

  static async zooKeeper(dir: string, tickMs: number): Promise<RestartableServer> {
    const kind = zooKeeperKind(tickMs);
    return new RestartableServer(kind, dir, await freePorts(kind.portsNeeded));
  }

  get name(): string {
    return this.kind.name;
  }

  get port(): number {
    return this.ports[0] as number;
  }

  /** `amqp://rideshare:<password>@127.0.0.1:PORT/rideshare` or `127.0.0.1:PORT`, once started. */
  get address(): string {
    if (!this.launchAddress) throw new Error(`${this.name} has not been started yet: its address is not known`);
    return this.launchAddress;
  }

  /** The process group leader: the shell for RabbitMQ, the JVM itself for ZooKeeper. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.alive;
  }

  async start(): Promise<number> {
    if (this.running) throw new Error(`${this.name} is already running (pid ${this.pid})`);
    fs.mkdirSync(this.dir, { recursive: true });
    const launch = await this.kind.prepare(this.dir, this.ports, logger);
    this.launchAddress = launch.address;
    this.launchEnv = launch.env;
    // Its own process group, so a SIGKILL reaches the helpers RabbitMQ forks as well.
    const child = spawnGroupLeader(launch.command, launch.args, { cwd: this.dir, env: launch.env, logFile: path.join(this.dir, 'stdout.log') });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid as number));
      child.once('error', reject);
    });
    child.unref();
    // A server must not outlive a test process that dies without calling stop().
    const spare = killGroupAtExit(pid);
    this.child = child;
    this.alive = true;
    this.intended = false;
    this.gone = new Promise((resolve) =>
      child.once('exit', (code, sig) => {
        this.alive = false;
        spare();
        this.exits.push({ at: Date.now(), pid, how: sig ?? `code ${code}`, unexpected: !this.intended });
        resolve();
      }),
    );
    const began = Date.now();
    await this.waitReady(child, began);
    return Date.now() - began;
  }

  /** SIGKILL of the whole group: the server gets no chance to flush or say goodbye. */
  async crash(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    this.intended = true;
    signal(-(child.pid as number), 'SIGKILL');
    await this.exited(10_000);
  }

  /** SIGTERM (RabbitMQ's script stops the node cleanly), then SIGKILL after `graceMs`. */
  async stop(graceMs = this.kind.stopGraceMs): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.intended = true;
    if (this.running) {
      this.resume();
      signal(child.pid as number, 'SIGTERM');
      if (!(await this.exited(graceMs))) signal(-(child.pid as number), 'SIGKILL');
      await this.exited(10_000);
    }
    // Helpers (Erlang port programs) may outlive the leader.
    signal(-(child.pid as number), 'SIGKILL');
  }

  /** SIGSTOP to the whole group: clients keep their TCP connections but get no answer. */
  pause(): string {
    return this.child?.pid ? signal(-this.child.pid, 'SIGSTOP') : 'not running';
  }

  resume(): string {
    return this.child?.pid ? signal(-this.child.pid, 'SIGCONT') : 'not running';
  }

  /**
   * Runs one of the server's control tools (RabbitMQ's rabbitmqctl) against this instance: same
   * environment as its launch, so the tool finds the private node by name with its own cookie.
   * Resolves with what it printed; rejects with that too when it fails.
   */
  control(tool: string, args: string[], timeoutMs = 60_000): Promise<string> {
    const env = this.launchEnv;
    if (!env) return Promise.reject(new Error(`${this.name} has not been started yet`));
    return new Promise((resolve, reject) => {
      execFile(tool, args, { env, cwd: this.dir, timeout: timeoutMs }, (error, stdout, stderr) => {
        const said = `${stdout}${stderr}`.trim();
        if (error) reject(new Error(`${path.basename(tool)} ${args.join(' ')} failed: ${error.message} ${said}`));
        else resolve(said);
      });
    });
  }

  /** The server's own log lines around a failure (ZooKeeper has no logger binding: JVM errors only). */
  logTail(chars = 2000): string {
    const logDir = path.join(this.dir, 'log');
    const own = fs.existsSync(logDir) ? fs.readdirSync(logDir).map((name) => path.join(logDir, name)) : [];
    const files = [path.join(this.dir, 'stdout.log'), ...own];
    return files
      .map((file) => {
        const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
        return text.trim() ? `--- ${file}\n${text.slice(-chars)}` : '';
      })
      .filter(Boolean)
      .join('\n');
  }

  private async exited(withinMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), withinMs)));
    const done = await Promise.race([this.gone.then(() => true), timeout]);
    clearTimeout(timer);
    return done;
  }

  private async waitReady(child: ChildProcess, began: number): Promise<void> {
    for (;;) {
      if (!this.alive) {
        throw new Error(`${this.name} exited (${child.signalCode ?? child.exitCode}) before it was ready on port ${this.port}`);
      }
      if (await probe(this.kind, this.port)) return;
      if (Date.now() - began > this.kind.startTimeoutMs) {
        await this.stop(2000);
        throw new Error(`${this.name} was not ready on port ${this.port} within ${this.kind.startTimeoutMs} ms`);
      }
      await sleep(100);
    }
  }
}

/** Sends the kind's greeting and asks it whether the reply means "ready to serve". */
function probe(kind: ServerKind, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = net.connect({ host: '127.0.0.1', port });
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(chunks.length > 0 && kind.ready(Buffer.concat(chunks)));
    };
    const timer = setTimeout(finish, timeoutMs);
    socket.on('connect', () => socket.write(kind.hello));
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (kind.enough(Buffer.concat(chunks))) finish();
    });
    socket.on('error', finish);
    socket.on('close', finish);
  });
}
