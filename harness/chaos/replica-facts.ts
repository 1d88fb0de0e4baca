/**
 * What one worker's SQLite file holds, read directly (read-only) rather than through the service
 * under test: the checksum and log order from harness/replicas.ts, plus the chaos rides by
 * marker, which is what tells a lost write from one applied twice.
 */
import { workerDbFile, workersDirOf } from '../../src/dbaas/worker/files.ts';
import Database from 'better-sqlite3';
import { readReplica, type ReplicaContent } from '../replicas.ts';

export interface ChaosRide {
  rideId: number;
  createdBy: string;
  source: number;
  destination: number;
}

export interface ReplicaFacts extends ReplicaContent {
  file: string;
  /** marker → every row carrying it (more than one: a write applied twice). */
  rides: Map<number, ChaosRide[]>;
  /**
   * Rows of this run's namespace that no client of it wrote: a user named like its writers but
   * none of them, a seat (ride_members row) of one of its writers or on one of their rides. The
   * run's writers insert rides and nothing else after their own users.
   */
  strangers: string[];
}

export function replicaFile(dataDir: string, workerId: string): string {
  return workerDbFile(workersDirOf(dataDir), workerId);
}

export function readReplicaFacts(file: string, writers: readonly string[]): ReplicaFacts {
  const content = readReplica(file);
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const rides = new Map<number, ChaosRide[]>();
    const statement = db.prepare('SELECT ride_id AS rideId, created_by AS createdBy, timestamp AS marker, source, destination FROM rides WHERE created_by = ?');
    for (const writer of writers) {
      for (const row of statement.all(writer) as (ChaosRide & { marker: number })[]) {
        const list = rides.get(row.marker) ?? [];
        list.push({ rideId: row.rideId, createdBy: row.createdBy, source: row.source, destination: row.destination });
        rides.set(row.marker, list);
      }
    }
    return { ...content, file, rides, strangers: strangersOf(db, writers) };
  } finally {
    db.close();
  }
}

/** A run's writers are `<tag>-w<n>`: the namespace is `<tag>-`. */
function namespaceOf(writers: readonly string[]): string | undefined {
  const match = /^(.*-)w\d+$/.exec(writers[0] ?? '');
  return match?.[1];
}

function strangersOf(db: Database.Database, writers: readonly string[]): string[] {
  const namespace = namespaceOf(writers);
  if (namespace === undefined) return [];
  const known = new Set(writers);
  const strangers: string[] = [];
  const like = `${namespace.replace(/[\\%_]/g, (character) => `\\${character}`)}%`;
  for (const { username } of db.prepare("SELECT username FROM users WHERE username LIKE ? ESCAPE '\\'").all(like) as { username: string }[]) {
    // A writer of another run whose tag extends this one's (`t-kind-wiped-w0` beside `t-kind-`) is not a stranger.
    if (!known.has(username) && !/^.+-w\d+$/.test(username.slice(namespace.length))) strangers.push(`user ${username}`);
  }
  const seat = db.prepare('SELECT m.ride_id AS rideId, m.username FROM ride_members m LEFT JOIN rides r ON r.ride_id = m.ride_id WHERE m.username = ? OR r.created_by = ?');
  for (const writer of writers) {
    for (const row of seat.all(writer, writer) as { rideId: number; username: string }[]) strangers.push(`seat of ${row.username} on ride ${row.rideId}`);
  }
  return strangers;
}
