// Replay: rebuilds the read model as it was after a given event, with the
// aggregator's own projection (one projection, no second implementation).
import { copyFileSync, existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { EventLog, StoredEvent } from '../../shared/eventLog.js';
import { Projection } from '../aggregator/projection.js';
import { ReadModel } from '../aggregator/readModel.js';
import { newestCheckpoint } from '../aggregator/checkpoints.js';
import { AuditInputError } from './time.js';

export const DEFAULT_REPLAY_BATCH = 5000;

// Reads events fromSeq..toSeq in batches and hands each batch over in order;
// an error when the log ends (or skips past toSeq) before toSeq is reached.
export async function readRange(
  log: EventLog,
  fromSeq: number,
  toSeq: number,
  batchSize: number,
  onBatch: (events: StoredEvent[]) => void,
): Promise<void> {
  let next = fromSeq;
  while (next <= toSeq) {
    const batch = await log.read(next, Math.min(batchSize, toSeq - next + 1));
    const events = batch.filter((e) => e.seq >= next && e.seq <= toSeq);
    const last = events.at(-1);
    if (!last) {
      if (batch.length > 0) return; // the log skips over the rest of the range (deleted messages)
      throw new Error(`the event log ended at seq ${next - 1} before seq ${toSeq}`);
    }
    onBatch(events);
    next = last.seq + 1;
  }
}

export interface ReplayOptions {
  force?: boolean; // replace an existing file
  onProgress?: (done: number, total: number) => void; // events applied so far, of how many
  checkpointDir?: string; // start from the newest checkpoint at or before the target
  batchSize?: number;
}

export interface ReplayResult {
  lastSeq: number;
  fromCheckpoint: number | undefined; // the checkpoint's seq it started from
}

// Writes the read model as of event `toSeq` to `dbPath`. It is built under a
// temporary name and renamed at the end: on any error nothing is written.
export async function replayTo(log: EventLog, dbPath: string, toSeq: number, opts: ReplayOptions = {}): Promise<ReplayResult> {
  if (existsSync(dbPath) && !opts.force) throw new AuditInputError(`${dbPath} already exists; use --force to replace it`);
  if (!isDirectory(dirname(dbPath))) throw new AuditInputError(`cannot write ${dbPath}: directory ${dirname(dbPath)} does not exist`);
  const last = await log.lastSeq();
  if (!Number.isSafeInteger(toSeq) || toSeq < 0 || toSeq > last) {
    throw new AuditInputError(`cannot replay to seq ${toSeq}: the event log ends at seq ${last}`);
  }
  const partial = `${dbPath}.partial`;
  removeDatabase(partial);
  const checkpoint = opts.checkpointDir === undefined ? undefined : newestCheckpoint(opts.checkpointDir, toSeq);
  try {
    if (checkpoint) copyFileSync(checkpoint.path, partial);
    const model = ReadModel.open(partial);
    try {
      const projection = new Projection(model);
      const start = model.lastApplied();
      const total = toSeq - start;
      opts.onProgress?.(0, total);
      await readRange(log, start + 1, toSeq, opts.batchSize ?? DEFAULT_REPLAY_BATCH, (events) => {
        projection.applyBatch(events);
        opts.onProgress?.(events.at(-1)!.seq - start, total);
      });
    } finally {
      model.close();
    }
    removeDatabase(dbPath);
    renameSync(partial, dbPath);
  } catch (err) {
    removeDatabase(partial);
    throw err;
  }
  return { lastSeq: toSeq, fromCheckpoint: checkpoint?.seq };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function removeDatabase(path: string): void {
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
}
