/**
 * ZooKeeper: how to recognise a server on a port, and how to run a private standalone server from
 * Debian's zookeeper package (calling java directly: the Debian zkServer.sh ignores --config).
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Endpoint, PrivateLaunch, ServerKind } from './server-kind.ts';
import { RideShareError } from '../shared/errors.ts';

export const JAR = '/usr/share/java/zookeeper.jar';
export const MAIN_CLASS = 'org.apache.zookeeper.server.quorum.QuorumPeerMain';

/** Reads `host:port,host:port/chroot`; any one member answering is enough. */
function parseAddress(connect: string): Endpoint[] {
  const hosts = connect.split('/')[0] ?? '';
  const endpoints = hosts
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part) => {
      const colon = part.lastIndexOf(':');
      const bracketed = part.endsWith(']');
      const host = colon > 0 && !bracketed ? part.slice(0, colon) : part;
      const port = colon > 0 && !bracketed ? Number(part.slice(colon + 1)) : 2181;
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        throw new RideShareError('CONFIG_INVALID', `the ZooKeeper address ${connect} has an invalid port in "${part}"`);
      }
      return { host: host.replace(/^\[(.*)\]$/, '$1'), port };
    });
  if (endpoints.length === 0) throw new RideShareError('CONFIG_INVALID', `the ZooKeeper address "${connect}" names no host`);
  return endpoints;
}

export function findOnPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const candidate = path.join(dir || '.', command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

function missingBinaries(): string[] {
  const missing: string[] = [];
  if (!existsSync(JAR)) missing.push(JAR);
  if (!findOnPath('java')) missing.push('java');
  return missing;
}

function prepareFor(tickMs: number) {
  return async (dir: string, ports: number[]): Promise<PrivateLaunch> => {
    const port = ports[0];
    if (port === undefined) throw new RideShareError('INVARIANT', 'a private ZooKeeper needs a port');
    const dataDir = path.join(dir, 'data');
    await mkdir(dataDir, { recursive: true });
    const config = path.join(dir, 'zoo.cfg');
    await writeFile(
      config,
      [
        `tickTime=${tickMs}`,
        `dataDir=${dataDir}`,
        `clientPort=${port}`,
        'clientPortAddress=127.0.0.1',
        // The admin server would otherwise take port 8080 from whoever else wants it.
        'admin.enableServer=false',
        '4lw.commands.whitelist=ruok,srvr,stat,mntr',
        `minSessionTimeout=${tickMs * 2}`,
        'maxSessionTimeout=60000',
        // Losing a private (test or dev) server's last writes on power loss is acceptable; fsync stalls are not.
        'forceSync=no',
        '',
      ].join('\n'),
    );
    return {
      command: findOnPath('java') ?? 'java',
      // One small heap and a serial GC: this server is tiny and the machine has few cores.
      args: ['-Xmx256m', '-XX:+UseSerialGC', `-Dzookeeper.log.dir=${dir}`, '-cp', `${JAR}:${dir}`, MAIN_CLASS, config],
      env: process.env,
      // Debian ships no slf4j binding, so the server logs nothing beyond JVM errors on stdout.
      extraLogs: [],
      // Who may change what is the cluster's znodes' ACLs' business (src/dbaas/coordination/zk-acl.ts).
      address: `127.0.0.1:${port}`,
    };
  };
}

/** `srvr` is the one command the Debian system server's whitelist allows. */
export function zooKeeperKind(tickMs: number): ServerKind {
  if (!Number.isInteger(tickMs) || tickMs < 10) throw new RideShareError('INVARIANT', `tickMs must be an integer ≥ 10, not ${tickMs}`);
  return {
    name: 'ZooKeeper',
    debPackage: 'zookeeper',
    dirName: 'zookeeper',
    defaultPort: 2181,
    portsNeeded: 1,
    startTimeoutMs: 30_000,
    stopGraceMs: 5000,
    hello: Buffer.from('srvr'),
    // The server closes the connection after its reply, which ends the read.
    enough: () => false,
    // A refused command ("not in the whitelist") still proves a ZooKeeper is there.
    answers: (reply) => !reply.toString('latin1').includes('not currently serving'),
    ready: (reply) => reply.toString('latin1').includes('Mode:'),
    parseAddress,
    foundAddress: (port) => `127.0.0.1:${port}`,
    missingBinaries,
    prepare: prepareFor(tickMs),
  };
}
