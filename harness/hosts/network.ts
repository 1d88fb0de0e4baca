/**
 * Makes a bed's network from its plan: a namespace per host and one for the bridge, a veth pair
 * per host created straight into the two namespaces it joins (neither end ever exists in the
 * machine's own namespace), the host's address on eth0, loopback up, and /etc/netns/<ns>/hosts,
 * which `ip netns exec` mounts over /etc/hosts, so that every host finds the others by name.
 * There is no route out: a host reaches its peers and nothing else.
 */
import fs from 'node:fs';
import path from 'node:path';
import { HOST_INTERFACE, type BedPlan, type HostPlan } from './bed-plan.ts';
import { run } from './commands.ts';

export const NETNS_ETC = '/etc/netns';
export const BRIDGE_DEVICE = 'br0';

/** One `ip -batch` per namespace: five processes for a bed of three instead of some forty. */
export async function createNetwork(plan: BedPlan): Promise<void> {
  await batch(undefined, [
    `netns add ${plan.bridgeNamespace}`,
    ...plan.hosts.map((host) => `netns add ${host.namespace}`),
    ...plan.hosts.map((host) => `link add name ${host.bridgePort} netns ${plan.bridgeNamespace} type veth peer name ${HOST_INTERFACE} netns ${host.namespace}`),
  ]);
  await batch(plan.bridgeNamespace, [
    `link set lo up`,
    `link add ${BRIDGE_DEVICE} type bridge`,
    `link set ${BRIDGE_DEVICE} up`,
    ...plan.hosts.flatMap((host) => [`link set ${host.bridgePort} master ${BRIDGE_DEVICE}`, `link set ${host.bridgePort} up`]),
  ]);
  await Promise.all(plan.hosts.map((host) => batch(host.namespace, [`link set lo up`, `addr add ${host.address}/24 dev ${HOST_INTERFACE}`, `link set ${HOST_INTERFACE} up`])));
  for (const host of plan.hosts) writeHostsFile(plan, host);
}

function batch(namespace: string | undefined, lines: string[]): Promise<string> {
  const argv = namespace ? ['ip', '-n', namespace, '-batch', '-'] : ['ip', '-batch', '-'];
  return run(argv, { input: `${lines.join('\n')}\n` });
}

export function hostsFileOf(namespace: string): string {
  return path.join(NETNS_ETC, namespace, 'hosts');
}

function writeHostsFile(plan: BedPlan, host: HostPlan): void {
  const lines = ['127.0.0.1 localhost', '::1 localhost ip6-localhost ip6-loopback', ...plan.hosts.map((peer) => `${peer.address} ${peer.name}`)];
  fs.mkdirSync(path.dirname(hostsFileOf(host.namespace)), { recursive: true });
  fs.writeFileSync(hostsFileOf(host.namespace), `# test bed ${plan.name}: made by harness/hosts, removed by its teardown\n${lines.join('\n')}\n`);
}
