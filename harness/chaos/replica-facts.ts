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
}

export interface ReplicaFacts extends ReplicaContent {
  file: string;
  /** marker → every row carrying it (more than one: a write applied twice). */
  rides: Map<number, ChaosRide[]>;
}

export function replicaFile(dataDir: string, workerId: string): string {
  return workerDbFile(workersDirOf(dataDir), workerId);
}

export function readReplicaFacts(file: string, writers: readonly string[]): ReplicaFacts {
  const content = readReplica(file);
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const rides = new Map<number, ChaosRide[]>();
    const statement = db.prepare('SELECT ride_id AS rideId, created_by AS createdBy, timestamp AS marker FROM rides WHERE created_by = ?');
    for (const writer of writers) {
      for (const row of statement.all(writer) as (ChaosRide & { marker: number })[]) {
        const list = rides.get(row.marker) ?? [];
        list.push({ rideId: row.rideId, createdBy: row.createdBy });
        rides.set(row.marker, list);
      }
    }
    return { ...content, file, rides };
  } finally {
    db.close();
  }
}
