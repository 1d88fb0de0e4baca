/**
 * Network faults of one host, as nftables rules inside its namespace: a partition from some or
 * all of its peers (both ways or one way), a cut of some ports, random loss, all of its
 * traffic, or its processes' link to its own servers. Each fault is a pair of chains of its own (input and output hooks on eth0, so the
 * host's loopback is never touched) in the bed's table, injected in one atomic nft run and healed
 * by deleting its chains; healing a host deletes the whole table.
 */
import { BadRequestError } from '../../src/shared/errors.ts';
import { HOST_INTERFACE, type BedPlan, type HostPlan } from './bed-plan.ts';
import { nftIn } from './nft.ts';

export const ZOOKEEPER_PORTS = [2181, 2888, 3888] as const;
export const RABBITMQ_PORTS = [5672, 25672, 4369] as const;

/** 'outgoing': the host's packets to the peers are dropped; 'incoming': theirs to it. */
export type Direction = 'both' | 'outgoing' | 'incoming';

export type NetworkFaultSpec =
  | { kind: 'partition'; peers?: readonly string[]; direction?: Direction }
  | { kind: 'ports'; ports: readonly number[]; peers?: readonly string[] }
  | { kind: 'loss'; percent: number; direction?: Direction }
  | { kind: 'own-server'; ports: readonly number[] }
  | { kind: 'isolate' };

export interface NetworkFault {
  id: number;
  host: string;
  spec: NetworkFaultSpec;
  /** How long the injection took (one nft run in the host's namespace). */
  injectMs: number;
  heal(): Promise<number>;
}

interface Rules {
  incoming: string[];
  outgoing: string[];
  /** The interface the rules hold on: the host's link to the others unless said otherwise. */
  device?: string;
}

let nextId = 1;
/** The faults in force, by namespace: a host's heal ends them all, and their own heal is then a no-op. */
const inForce = new Map<string, Set<number>>();

export async function injectNetworkFault(plan: BedPlan, host: HostPlan, spec: NetworkFaultSpec): Promise<NetworkFault> {
  const id = nextId++;
  const rules = rulesOf(plan, host, spec);
  const began = performance.now();
  await nftIn(host.namespace, scriptOf(plan.table, id, rules));
  const injectMs = performance.now() - began;
  const faults = inForce.get(host.namespace) ?? new Set<number>();
  inForce.set(host.namespace, faults.add(id));
  return {
    id,
    host: host.name,
    spec,
    injectMs,
    heal: async () => {
      if (!faults.delete(id)) return 0;
      const start = performance.now();
      await nftIn(
        host.namespace,
        `${chainNames(id)
          .map((chain) => `delete chain inet ${plan.table} ${chain}`)
          .join('\n')}\n`,
      );
      return performance.now() - start;
    },
  };
}

/** Every fault of the host at once: its table goes; a host without one is left as it is. */
export async function healHost(plan: BedPlan, host: HostPlan): Promise<void> {
  inForce.get(host.namespace)?.clear();
  // Declaring the table first makes the delete succeed whether or not it existed.
  await nftIn(host.namespace, `table inet ${plan.table} {}\ndelete table inet ${plan.table}\n`);
}

function chainNames(id: number): [string, string] {
  return [`fault${id}_in`, `fault${id}_out`];
}

function scriptOf(table: string, id: number, rules: Rules): string {
  const [inChain, outChain] = chainNames(id);
  const lines = [
    `table inet ${table} {}`,
    `add chain inet ${table} ${inChain} { type filter hook input priority 0; policy accept; }`,
    `add chain inet ${table} ${outChain} { type filter hook output priority 0; policy accept; }`,
    ...rules.incoming.map((rule) => `add rule inet ${table} ${inChain} iifname "${rules.device ?? HOST_INTERFACE}" ${rule}`),
    ...rules.outgoing.map((rule) => `add rule inet ${table} ${outChain} oifname "${rules.device ?? HOST_INTERFACE}" ${rule}`),
  ];
  return `${lines.join('\n')}\n`;
}

function rulesOf(plan: BedPlan, host: HostPlan, spec: NetworkFaultSpec): Rules {
  switch (spec.kind) {
    case 'partition': {
      const peers = addressSet(plan, host, spec.peers);
      return directed(spec.direction ?? 'both', [`ip saddr ${peers} drop`], [`ip daddr ${peers} drop`]);
    }
    case 'ports': {
      const ports = portSet(spec.ports);
      const peers = spec.peers ? `ip saddr ${addressSet(plan, host, spec.peers)} ` : '';
      const toPeers = spec.peers ? `ip daddr ${addressSet(plan, host, spec.peers)} ` : '';
      // Its servers' ports and its clients' connections to the same ports elsewhere, both ways.
      return { incoming: [`${peers}tcp dport ${ports} drop`, `${peers}tcp sport ${ports} drop`], outgoing: [`${toPeers}tcp dport ${ports} drop`, `${toPeers}tcp sport ${ports} drop`] };
    }
    case 'loss': {
      if (!Number.isInteger(spec.percent) || spec.percent < 0 || spec.percent > 100) throw new BadRequestError(`loss of ${spec.percent}%: give a whole percentage from 0 to 100`);
      // numgen's values are 0-99, so nft refuses `< 100`: all of them is a plain drop.
      const rule = spec.percent === 100 ? 'drop' : `numgen random mod 100 < ${spec.percent} drop`;
      return directed(spec.direction ?? 'both', [rule], [rule]);
    }
    case 'own-server': {
      // A host's processes reach its own servers over loopback (its own address routes there):
      // these rules silence that link only, so its clients must notice and go to the other hosts'
      // servers, which they still reach, while its server stays in its cluster.
      const ports = portSet(spec.ports);
      return { incoming: [`tcp dport ${ports} drop`, `tcp sport ${ports} drop`], outgoing: [], device: 'lo' };
    }
    case 'isolate':
      return { incoming: ['drop'], outgoing: ['drop'] };
  }
}

function directed(direction: Direction, incoming: string[], outgoing: string[]): Rules {
  return { incoming: direction === 'outgoing' ? [] : incoming, outgoing: direction === 'incoming' ? [] : outgoing };
}

function addressSet(plan: BedPlan, host: HostPlan, peers: readonly string[] | undefined): string {
  const chosen = peers ?? plan.hosts.filter((peer) => peer.name !== host.name).map((peer) => peer.name);
  const addresses = chosen.map((name) => {
    const peer = plan.hosts.find((candidate) => candidate.name === name);
    if (!peer) throw new BadRequestError(`no host '${name}' in bed ${plan.name}`);
    if (peer.name === host.name) throw new BadRequestError(`host '${name}' cannot be partitioned from itself`);
    return peer.address;
  });
  if (addresses.length === 0) throw new BadRequestError(`host '${host.name}' has no peer to be partitioned from`);
  return `{ ${addresses.join(', ')} }`;
}

function portSet(ports: readonly number[]): string {
  if (ports.length === 0 || ports.some((port) => !Number.isInteger(port) || port < 1 || port > 65535)) throw new BadRequestError(`ports ${ports.join(', ')}: give ports from 1 to 65535`);
  return `{ ${[...new Set(ports)].join(', ')} }`;
}
