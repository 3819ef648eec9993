// The worker thread of WalCheckpointer: a connection of its own that copies the
// WAL into the database file whenever the WAL file grew past its limit.
import { statSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { WorkerState, type WalCheckpointerData, type WalCheckpointerFailure } from './walCheckpointer.js';

const { dbPath, state, walLimitBytes, intervalMs } = workerData as WalCheckpointerData;
const RETRY_MS = 2; // while the writer is in a transaction

function walBytes(): number {
  return statSync(`${dbPath}-wal`, { throwIfNoEntry: false })?.size ?? 0;
}

// Only a worker that got here before close() opens a connection.
if (Atomics.compareExchange(state, 0, WorkerState.starting, WorkerState.running) === WorkerState.starting) {
  let db: Database.Database | undefined;
  try {
    db = new Database(dbPath, { fileMustExist: true, timeout: 0 });
    db.pragma('synchronous = NORMAL');
    const checkpoint = db.prepare<[], { busy: number }>('PRAGMA wal_checkpoint(FULL)');
    while (Atomics.wait(state, 0, WorkerState.running, intervalMs) === 'timed-out') {
      if (walBytes() <= walLimitBytes) continue;
      // The writer starts the WAL over only after a checkpoint that copied all of it ended between two of its commits.
      // While the writer is in a transaction, FULL copies what it can (as PASSIVE) and reports busy; once it finds
      // the writer between two, it copies the rest holding the writer out that long.
      while (checkpoint.get()!.busy && Atomics.wait(state, 0, WorkerState.running, RETRY_MS) === 'timed-out');
    }
  } catch (err) {
    parentPort!.postMessage({ failed: err instanceof Error ? err.message : String(err) } satisfies WalCheckpointerFailure);
  } finally {
    db?.close();
    Atomics.store(state, 0, WorkerState.closed);
    Atomics.notify(state, 0);
  }
}
