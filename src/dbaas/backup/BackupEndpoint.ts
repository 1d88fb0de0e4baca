/**
 * `POST /api/v1/db/backup`: a consistent copy of the database, taken while writes go on. The
 * orchestrator asks the master for its position (queued on writeQ behind the writes, so it covers
 * every write acknowledged before the request), then fetches a snapshot containing at least that
 * seq over snapshotQ, exactly as a joining replica does: a caught-up slave serves it (the master
 * only when no slave can), copying with `VACUUM INTO` in one read transaction, so the file holds
 * every write up to its seq and none after. The copy lands in a temporary file, is verified
 * (SHA-256, position), opened and unlinked at once (nothing is left behind, even by a crash while
 * sending), and streamed: never the whole file in memory. The orchestrator opens no worker's
 * database; it only passes the copy on.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ChannelModel } from 'amqplib';
import type { FastifyReply } from 'fastify';
import { UnavailableError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import { PRIVATE_DIR_MODE } from '../../shared/private-files.ts';
import type { ClusterNames } from '../protocol/names.ts';
import { askMasterPosition } from '../replication/master-position.ts';
import type { MessageSigner } from '../transport/signing.ts';
import { snapshotTempFile, sweepStaleSnapshotFiles } from '../replication/snapshot-temp-files.ts';
import { fetchSnapshot, type FetchedSnapshot } from '../replication/snapshot-transfer.ts';
import { connectAmqp } from '../transport/amqp.ts';
import { BACKUP_HEADERS } from './backup-format.ts';
import { monotonicNow } from '../../shared/monotonic.ts';

export interface BackupEndpointOptions {
  amqpUrl: string;
  cluster: string;
  names: ClusterNames;
  /** Signs the position question and the snapshot request, as the cluster's processes do. */
  signer: MessageSigner;
  /** Where copies are fetched before they are sent (DATA_DIR/tmp); each is unlinked once opened. */
  tempDir: string;
  /** For the position and the snapshot together (SNAPSHOT_TIMEOUT_MS). */
  timeoutMs: number;
  logger: Logger;
}

interface TakenBackup extends FetchedSnapshot {
  handle: fs.promises.FileHandle;
  takenAt: string;
}

/** A temp directory next to the workers' own, never DATA_DIR/workers (the supervisor prunes it). */
export function backupTempDirOf(dataDir: string): string {
  return path.join(dataDir, 'tmp');
}

export class BackupEndpoint {
  /** One backup at a time per orchestrator: each costs a full copy on a replica. */
  private busy = false;

  constructor(private readonly options: BackupEndpointOptions) {}

  /** Takes a backup and streams it as the answer; a second request meanwhile is a 503. */
  async reply(reply: FastifyReply): Promise<FastifyReply> {
    if (this.busy) throw new UnavailableError('a backup is already being taken through this orchestrator; try again when it is done');
    this.busy = true;
    let taken: TakenBackup;
    try {
      taken = await this.take(reply);
    } finally {
      this.busy = false;
    }
    const { cluster } = this.options;
    return reply
      .type('application/octet-stream')
      .header('content-length', String(taken.size))
      .header('content-disposition', `attachment; filename="${cluster}-seq${taken.appliedSeq}.db"`)
      .header(BACKUP_HEADERS.seq, String(taken.appliedSeq))
      .header(BACKUP_HEADERS.epoch, String(taken.epoch))
      .header(BACKUP_HEADERS.sha256, taken.sha256)
      .header(BACKUP_HEADERS.cluster, cluster)
      .header(BACKUP_HEADERS.takenAt, taken.takenAt)
      .send(taken.handle.createReadStream());
  }

  /**
   * Position, then snapshot, on a connection of its own (closed afterwards). A caller that goes
   * away, or a connection that drops, abandons the fetch rather than letting it run to its timeout.
   */
  private async take(reply: FastifyReply): Promise<TakenBackup> {
    const { names, timeoutMs, logger } = this.options;
    const started = monotonicNow();
    const tempDir = this.options.tempDir;
    fs.mkdirSync(tempDir, { recursive: true, mode: PRIVATE_DIR_MODE });
    sweepStaleSnapshotFiles(tempDir);
    const connection = await this.connect();
    const abandon = new AbortController();
    const onGone = () => {
      if (reply.raw.writableFinished) return;
      abandon.abort(new UnavailableError('the caller went away'));
      void connection.close().catch(() => undefined);
    };
    const onDropped = () => abandon.abort(new UnavailableError('the RabbitMQ connection closed'));
    reply.raw.once('close', onGone);
    connection.on('close', onDropped);
    connection.on('error', () => undefined); // the 'close' that follows is what matters
    const file = snapshotTempFile(tempDir, 'backup');
    try {
      const { seq: minSeq } = await askMasterPosition(connection, names, this.options.signer, timeoutMs);
      const remaining = Math.max(1, timeoutMs - (monotonicNow() - started));
      const fetched = await fetchSnapshot({ connection, names, signer: this.options.signer, minSeq, file, timeoutMs: remaining, signal: abandon.signal, logger });
      const handle = await fs.promises.open(file, 'r');
      logger.info({ seq: fetched.appliedSeq, epoch: fetched.epoch, minSeq, bytes: fetched.size, ms: monotonicNow() - started }, 'backup taken; sending it');
      return { ...fetched, handle, takenAt: new Date().toISOString() };
    } finally {
      reply.raw.off('close', onGone);
      connection.off('close', onDropped);
      // Open or not, the name goes: the open handle keeps the bytes until the answer is sent.
      for (const suffix of ['', '-journal', '-wal', '-shm']) fs.rmSync(file + suffix, { force: true });
      await connection.close().catch(() => undefined);
    }
  }

  private async connect(): Promise<ChannelModel> {
    try {
      return await connectAmqp(this.options.amqpUrl);
    } catch (error) {
      throw new UnavailableError(`RabbitMQ is unreachable: ${(error as Error).message}`, { cause: error });
    }
  }
}
