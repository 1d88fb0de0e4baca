/**
 * What one kind of server (RabbitMQ, ZooKeeper) tells the shared mechanics in servers.ts: how to
 * probe it, where it listens, how to start a private instance and how clients reach it. A file of
 * its own, so the kinds and the mechanics import it and not each other.
 */
import type { Logger } from '../shared/logger.ts';

export interface Endpoint {
  host: string;
  port: number;
  /** TLS endpoints cannot take a plain-text greeting, so a TCP connect is all we check. */
  connectOnly?: boolean;
}

export interface PrivateLaunch {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  /** Logs the server writes itself, tailed into the error when it fails to start. */
  extraLogs: string[];
  /**
   * How clients reach this instance, credentials included: a private RabbitMQ has a user, a
   * password and a vhost of its own (never guest). A secret: log it through redactUrl only.
   */
  address: string;
}

export interface ServerKind {
  name: string;
  debPackage: string;
  dirName: string;
  defaultPort: number;
  portsNeeded: number;
  startTimeoutMs: number;
  stopGraceMs: number;
  hello: Buffer;
  /** True once the reply is complete enough to judge; servers that close after replying can say false. */
  enough(reply: Buffer): boolean;
  /** Someone speaking this protocol is there (it may refuse the command). */
  answers(reply: Buffer): boolean;
  /** Our own instance is ready to serve clients. */
  ready(reply: Buffer): boolean;
  parseAddress(configured: string): Endpoint[];
  /** The address of a server found answering on this machine's `port`, used as it is (the machine's RabbitMQ: guest/guest). */
  foundAddress(port: number): string;
  missingBinaries(): string[];
  /** Writes a private instance's configuration (and credentials) into `dir`; says how to run and reach it. */
  prepare(dir: string, ports: number[], logger: Logger): Promise<PrivateLaunch>;
}
