/**
 * What a test bed of hosts is made of, derived once from its settings: the name of every network
 * namespace (all under one prefix, `rs-<bed>-`, so a bed can be found and removed by name alone
 * when its state file is lost), every host's address on the bed's /24, the bridge's own
 * namespace, the nftables table the faults use, and where the state file lives. Nothing here
 * touches the machine; network.ts and teardown.ts act on a plan.
 */
import path from 'node:path';
import { BadRequestError } from '../../src/shared/errors.ts';

export const DEFAULT_HOSTS = ['users', 'rides', 'db'] as const;
/** Private and unlikely to be in use; it never leaves the bed's namespaces anyway, so two beds may share it. */
export const DEFAULT_SUBNET = '10.77.0.0/24';
export const DEFAULT_STATE_DIR = '/run/rideshare-hosts';
export const NAMESPACE_PREFIX = 'rs-';
/** The namespace of the bridge; no host may take the name. */
const BRIDGE = 'bridge';
/** The host's end of its veth pair, inside the host's namespace. */
export const HOST_INTERFACE = 'eth0';

export interface BedOptions {
  /** 1–16 of a-z and 0-9; the namespaces are `rs-<name>-<host>`. Default `bed`. */
  name?: string;
  /** Host names, 1–12 of a-z and 0-9 starting with a letter (the bridge's veth ends are named after them). */
  hosts?: readonly string[];
  /** A private /24, e.g. `10.77.0.0/24`; host N (from 1) gets `.N`. */
  subnet?: string;
  stateDir?: string;
}

export interface HostPlan {
  name: string;
  namespace: string;
  address: string;
  /** The bridge's end of the host's veth pair, inside the bridge's namespace. */
  bridgePort: string;
}

export interface BedPlan {
  name: string;
  subnet: string;
  /** Every namespace of the bed starts with it. */
  prefix: string;
  bridgeNamespace: string;
  hosts: HostPlan[];
  stateFile: string;
  /** The nftables table (family inet) the faults put inside a host's namespace. */
  table: string;
}

export function bedPrefix(name: string): string {
  return `${NAMESPACE_PREFIX}${name}-`;
}

export function stateFileOf(name: string, stateDir = DEFAULT_STATE_DIR): string {
  return path.join(stateDir, `${name}.json`);
}

export function checkBedName(name: string): string {
  if (!/^[a-z0-9]{1,16}$/.test(name)) throw new BadRequestError(`bed name '${name}': use 1-16 of a-z and 0-9`);
  return name;
}

export function planBed(options: BedOptions = {}): BedPlan {
  const name = checkBedName(options.name ?? 'bed');
  const hosts = options.hosts ?? DEFAULT_HOSTS;
  checkHostNames(hosts);
  const base = subnetBase(options.subnet ?? DEFAULT_SUBNET);
  const prefix = bedPrefix(name);
  return {
    name,
    subnet: `${base}.0/24`,
    prefix,
    bridgeNamespace: `${prefix}${BRIDGE}`,
    hosts: hosts.map((host, index) => ({ name: host, namespace: `${prefix}${host}`, address: `${base}.${index + 1}`, bridgePort: `h-${host}` })),
    stateFile: stateFileOf(name, options.stateDir),
    // "rs" alone, like several short words, is an nft keyword; this spelling parses.
    table: `rideshare_${name}`,
  };
}

function checkHostNames(hosts: readonly string[]): void {
  if (hosts.length < 1 || hosts.length > 200) throw new BadRequestError(`a bed has 1 to 200 hosts, not ${hosts.length}`);
  for (const host of hosts) {
    if (!/^[a-z][a-z0-9]{0,11}$/.test(host)) throw new BadRequestError(`host name '${host}': use a letter then up to 11 of a-z and 0-9`);
    if (host === BRIDGE || host === 'localhost') throw new BadRequestError(`host name '${host}' is reserved`);
  }
  if (new Set(hosts).size !== hosts.length) throw new BadRequestError(`host names repeat: ${hosts.join(', ')}`);
}

/** `10.77.0.0/24` → `10.77.0`; only private ranges, so nothing can ever look like a real address. */
function subnetBase(subnet: string): string {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.0\/24$/.exec(subnet);
  const octets = match?.slice(1, 4).map(Number);
  if (!octets || octets.some((octet) => octet > 255)) throw new BadRequestError(`subnet '${subnet}': give a /24 such as ${DEFAULT_SUBNET}`);
  const [a, b] = octets as [number, number, number];
  const isPrivate = a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
  if (!isPrivate) throw new BadRequestError(`subnet '${subnet}' is not private (10/8, 172.16/12, 192.168/16)`);
  return octets.join('.');
}
