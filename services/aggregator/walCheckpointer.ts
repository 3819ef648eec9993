// Checkpoints of a WAL database (copies of the WAL into the database file) run
// by a worker thread on a connection of its own: each copy rewrites much of the
// file and waits for two fsyncs, and the writer's commits must not wait for it.
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

// The worker's state, in shared memory: close() stops the worker and waits for
// its connection to close without a turn of the event loop, so that it can stay
// synchronous (a replay renames the database right after closing it).
export const WorkerState = { starting: 0, running: 1, stopping: 2, closed: 3 } as const;

export interface WalCheckpointerData {
  dbPath: string;
  state: Int32Array; // one WorkerState, on a SharedArrayBuffer
  walLimitBytes: number; // checkpoint once the WAL file is larger
  intervalMs: number; // how often the worker looks at the WAL file
}

export interface WalCheckpointerFailure {
  failed: string;
}

export class WalCheckpointer {
  private closed = false;
  private failed = false;

  private constructor(
    private readonly worker: Worker,
    private readonly state: Int32Array,
  ) {}

  // onFailure is called at most once, if the worker cannot start or stops before close().
  static start(data: Omit<WalCheckpointerData, 'state'>, onFailure: (why: string) => void): WalCheckpointer {
    const state = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));
    const checkpointer = new WalCheckpointer(walCheckpointerWorker({ ...data, state }), state);
    const fail = (why: string) => {
      if (checkpointer.closed || checkpointer.failed) return;
      checkpointer.failed = true;
      onFailure(why);
    };
    checkpointer.worker
      .on('message', (reply: WalCheckpointerFailure) => fail(reply.failed))
      .on('error', (err) => fail(err.message))
      .on('exit', (code) => fail(`its worker exited with code ${code}`))
      .unref(); // the writer's close() ends it; a process that exits without closing need not wait for it
    return checkpointer;
  }

  // Returns once the worker's connection is closed, or once it is sure never to open.
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const s = this.state;
    if (
      Atomics.compareExchange(s, 0, WorkerState.starting, WorkerState.closed) === WorkerState.running &&
      Atomics.compareExchange(s, 0, WorkerState.running, WorkerState.stopping) === WorkerState.running
    ) {
      Atomics.notify(s, 0);
      Atomics.wait(s, 0, WorkerState.stopping);
    }
    void this.worker.terminate(); // a worker still loading need not finish
  }
}

// The worker's module as this one is loaded: .js when built; .ts from the
// sources (tests), where tsx must be registered in the worker before it loads.
function walCheckpointerWorker(workerData: WalCheckpointerData): Worker {
  const ext = extname(fileURLToPath(import.meta.url));
  const url = new URL(`./walCheckpointerWorker${ext}`, import.meta.url);
  if (ext !== '.ts') return new Worker(url, { workerData });
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  return new Worker(`import(${tsx}).then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}); });`, { eval: true, workerData });
}
