/**
 * One ZooKeeper server of an ensemble spread over hosts, from Debian's zookeeper package (java
 * called directly, as for the private standalone server in zookeeper.ts): `server.N=<host>:2888:3888`
 * for every member, its `myid`, the client port 2181 on every address of its host.
 *
 * tickTime 500 (sessions down to 1 s, as the private server allows), syncLimit 4 (a follower more
 * than 2 s behind is dropped), initLimit 20 (10 s to sync when joining), and a 64 MiB heap with
 * the serial collector: the servers hold a few hundred znodes, and three JVMs share a small
 * machine. The environment is clean (`env -i`): no JAVA_TOOL_OPTIONS or CLASSPATH of a parent
 * reaches the server. Who may change what stays the business of the znodes' digest ACLs, made by
 * the clients with the cluster's ZK_AUTH exactly as against a single server.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BadRequestError } from '../shared/errors.ts';
import { findOnPath, JAR, MAIN_CLASS } from './zookeeper.ts';

export const ENSEMBLE_CLIENT_PORT = 2181;
const TICK_MS = 500;
const CLEAN_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

export interface ZooKeeperEnsembleServerOptions {
  /** This server's folder: zoo.cfg, data (myid, snapshots, log). */
  dir: string;
  /** The host this server runs on. */
  host: string;
  /** Every host of the ensemble in order; server N is the N-th (from 1). */
  hosts: readonly string[];
}

export interface EnsembleServerLaunch {
  argv: string[];
  /** This server's id (its myid). */
  id: number;
  /** Where the JVM's own output goes when the caller keeps it (Debian ships no slf4j binding). */
  logFile: string;
}

/** `host:2181,host:2181,…`: the connect string of the whole ensemble. */
export function ensembleConnectString(hosts: readonly string[]): string {
  return hosts.map((host) => `${host}:${ENSEMBLE_CLIENT_PORT}`).join(',');
}

export async function prepareZooKeeperEnsembleServer(options: ZooKeeperEnsembleServerOptions): Promise<EnsembleServerLaunch> {
  const id = options.hosts.indexOf(options.host) + 1;
  if (id === 0) throw new BadRequestError(`host '${options.host}' is not one of the ensemble's hosts (${options.hosts.join(', ')})`);
  if (options.hosts.length > 255 || new Set(options.hosts).size !== options.hosts.length) throw new BadRequestError('the ensemble needs distinct hosts, at most 255');
  const dir = path.resolve(options.dir);
  const dataDir = path.join(dir, 'data');
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await writeFile(path.join(dataDir, 'myid'), `${id}\n`);
  const config = path.join(dir, 'zoo.cfg');
  await writeFile(
    config,
    [
      `tickTime=${TICK_MS}`,
      'initLimit=20',
      'syncLimit=4',
      `dataDir=${dataDir}`,
      `clientPort=${ENSEMBLE_CLIENT_PORT}`,
      // The admin server would otherwise take port 8080.
      'admin.enableServer=false',
      '4lw.commands.whitelist=ruok,srvr,stat,mntr',
      `minSessionTimeout=${TICK_MS * 2}`,
      'maxSessionTimeout=60000',
      ...options.hosts.map((host, index) => `server.${index + 1}=${host}:2888:3888`),
      '',
    ].join('\n'),
  );
  const java = findOnPath('java') ?? '/usr/bin/java';
  return {
    argv: ['env', '-i', `PATH=${CLEAN_PATH}`, 'LANG=C.UTF-8', java, '-Xmx64m', '-XX:+UseSerialGC', `-Dzookeeper.log.dir=${dir}`, '-cp', `${JAR}:${dir}`, MAIN_CLASS, config],
    id,
    logFile: path.join(dir, 'stdout.log'),
  };
}
