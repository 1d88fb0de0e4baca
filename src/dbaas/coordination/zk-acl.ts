/**
 * Who may change the cluster's znodes: ZooKeeper digest ACLs. Every node the cluster creates
 * grants ALL to the cluster's digest identity and READ to anyone: monitoring may look, nobody
 * else may change, create or delete anything (the supervisor lease, the promotion node and the
 * desired slaves included). The one exception is /rideshare, the parent that every cluster on a
 * server shares: anyone may also CREATE a child there, so clusters with credentials of their own
 * can share one ZooKeeper; that never lets anyone change or delete another cluster's nodes.
 */
import { createHash } from 'node:crypto';
import zookeeper from 'node-zookeeper-client';
import { ZK_BASE } from '../protocol/names.ts';

/** A digest identity: `ZK_AUTH=user:password`, or `rideshare` and DATA_DIR/secrets/zookeeper.digest. */
export interface ZkCredentials {
  user: string;
  password: string;
}

const { ACL, Id, Permission } = zookeeper;
const ANYONE = new Id('world', 'anyone');

/** What an anonymous client's nodes get: anyone may do anything (ZooKeeper's OPEN_ACL_UNSAFE). */
export const OPEN_ACL: zookeeper.ACL[] = [new ACL(Permission.ALL, ANYONE)];

/** The `auth` bytes a client sends for the digest scheme. */
export function digestAuth(credentials: ZkCredentials): Buffer {
  return Buffer.from(`${credentials.user}:${credentials.password}`);
}

/** The identity ACLs name: `user:base64(sha1("user:password"))`, as ZooKeeper's DigestAuthenticationProvider computes it. */
export function digestId(credentials: ZkCredentials): string {
  const hash = createHash('sha1').update(`${credentials.user}:${credentials.password}`).digest('base64');
  return `${credentials.user}:${hash}`;
}

/** The ACL of a node created at `path` by a client with these credentials. */
export function aclFor(path: string, credentials: ZkCredentials): zookeeper.ACL[] {
  const owner = new ACL(Permission.ALL, new Id('digest', digestId(credentials)));
  const others = path === ZK_BASE ? Permission.READ | Permission.CREATE : Permission.READ;
  return [owner, new ACL(others, ANYONE)];
}

/** Anyone may do more on this node than its ACL would grant them if the cluster had made it. */
export function isOpen(path: string, acls: readonly zookeeper.ACL[]): boolean {
  const allowed = path === ZK_BASE ? Permission.READ | Permission.CREATE : Permission.READ;
  return acls.some((acl) => acl.id.scheme === 'world' && acl.id.id === 'anyone' && (permissionsOf(acl) & ~allowed) !== 0);
}

/**
 * The node's ACL is the one the cluster gives its nodes: ALL for the cluster's digest identity,
 * at most what aclFor grants to anyone, and no one else. A node anyone could write, or one naming
 * other credentials, was not made (or was since changed) by someone holding the cluster's.
 */
export function isClusterAcl(path: string, acls: readonly zookeeper.ACL[], credentials: ZkCredentials): boolean {
  const owner = digestId(credentials);
  const othersMay = path === ZK_BASE ? Permission.READ | Permission.CREATE : Permission.READ;
  const owned = acls.some((acl) => acl.id.scheme === 'digest' && acl.id.id === owner && permissionsOf(acl) === Permission.ALL);
  const nobodyElse = acls.every((acl) => {
    if (acl.id.scheme === 'digest' && acl.id.id === owner) return true;
    return acl.id.scheme === 'world' && acl.id.id === 'anyone' && (permissionsOf(acl) & ~othersMay) === 0;
  });
  return owned && nobodyElse;
}

/** An ACL as zkCli.sh's getAcl would show it, for error messages: `world:anyone=31, digest:u:h=1`. */
export function describeAcl(acls: readonly zookeeper.ACL[]): string {
  return acls.map((acl) => `${acl.id.scheme}:${acl.id.id}=${permissionsOf(acl)}`).join(', ') || 'none';
}

/** The library's ACL objects hold `permission`; its type declarations say `perms`. */
function permissionsOf(acl: zookeeper.ACL): number {
  const runtime = acl as unknown as { permission?: number; perms?: number };
  return runtime.permission ?? runtime.perms ?? 0;
}
