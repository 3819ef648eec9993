// The worker thread of CheckpointWriter: a read-only connection to the read
// model (WAL lets it read while the aggregator writes), one checkpoint per message.
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { writeCheckpoint, type CheckpointReply, type CheckpointRequest } from './checkpoints.js';

const { dbPath } = workerData as { dbPath: string };
let db: Database.Database | undefined;

parentPort!.on('message', ({ dir, keep }: CheckpointRequest) => {
  let reply: CheckpointReply;
  try {
    db ??= new Database(dbPath, { readonly: true, fileMustExist: true });
    reply = { written: writeCheckpoint(db, dir, keep) };
  } catch (err) {
    reply = { failed: err instanceof Error ? err.message : String(err) };
  }
  parentPort!.postMessage(reply);
});
