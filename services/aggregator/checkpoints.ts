// Checkpoints: copies of the read model at known sequences, so that a replay
// to an old moment starts from the newest one at or before it instead of
// from zero. Only an optimisation: replay from zero gives the same database.
import { mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { Logger } from '../../shared/logger.js';

export interface Checkpoint {
  seq: number; // the last event applied in it
  path: string;
}

const FILE = /^readmodel-(\d{12})\.db$/;

export function checkpointFile(dir: string, seq: number): string {
  return join(dir, `readmodel-${String(seq).padStart(12, '0')}.db`);
}

// Oldest first; a missing directory holds none.
export function listCheckpoints(dir: string): Checkpoint[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names
    .map((name) => FILE.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ seq: Number(m[1]), path: join(dir, m[0]) }))
    .sort((a, b) => a.seq - b.seq);
}

export function newestCheckpoint(dir: string, atOrBefore: number): Checkpoint | undefined {
  return listCheckpoints(dir).filter((c) => c.seq <= atOrBefore).at(-1);
}

// Writes a consistent copy of the read model (VACUUM INTO, under a temporary
// name until complete), named by the sequence it holds, and keeps only the
// newest `keep` checkpoints. The copy is of the moment it starts: a writer
// elsewhere may have gone on since it was asked for.
export function writeCheckpoint(db: Database.Database, dir: string, keep: number): Checkpoint {
  mkdirSync(dir, { recursive: true });
  const partial = join(dir, 'readmodel.db.partial');
  rmSync(partial, { force: true });
  try {
    db.prepare('VACUUM INTO ?').run(partial);
    const copy = new Database(partial, { readonly: true, fileMustExist: true });
    const seq = copy.prepare<[], number>('SELECT last_applied_seq FROM meta').pluck().get()!;
    copy.close();
    const path = checkpointFile(dir, seq);
    renameSync(partial, path);
    for (const old of listCheckpoints(dir).slice(0, -Math.max(1, keep))) rmSync(old.path, { force: true });
    return { seq, path };
  } finally {
    rmSync(partial, { force: true });
  }
}

export interface CheckpointRequest {
  dir: string;
  keep: number;
}

export type CheckpointReply = { written: Checkpoint } | { failed: string };

// Checkpoints written by a worker thread on a connection of its own: VACUUM
// INTO takes as long as copying the read model, and the aggregator's event
// loop (in `serve`, the DNS frontend's too) must not wait for it.
export class CheckpointWriter {
  private worker: Worker | undefined;
  private done: (() => void) | undefined; // the checkpoint being written
  private writing: Promise<void> | undefined;

  constructor(
    private readonly dbPath: string,
    private readonly request: CheckpointRequest,
    private readonly logger: Logger,
  ) {}

  // Starts one unless one is being written: the next crossing asks again.
  write(): void {
    if (this.writing) return;
    const worker = (this.worker ??= this.startWorker());
    this.writing = new Promise<void>((resolve) => (this.done = resolve));
    worker.postMessage(this.request);
  }

  async close(): Promise<void> {
    await this.writing;
    await this.worker?.terminate();
    this.worker = undefined;
  }

  private startWorker(): Worker {
    const worker = checkpointWorker({ dbPath: this.dbPath });
    worker.on('message', (reply: CheckpointReply) => {
      if ('written' in reply) this.logger.info({ seq: reply.written.seq, path: reply.written.path }, 'read model checkpoint written');
      else this.logger.warn({ err: reply.failed, dir: this.request.dir }, 'read model checkpoint failed');
      this.finish();
    });
    worker.on('error', (err) => {
      this.logger.warn({ err: err.message, dir: this.request.dir }, 'read model checkpoint failed; its worker stopped');
      this.worker = undefined;
      this.finish();
    });
    return worker;
  }

  private finish(): void {
    this.done?.();
    this.done = undefined;
    this.writing = undefined;
  }
}

// The worker's module as this one is loaded: .js when built; .ts from the
// sources (tests), where tsx must be registered in the worker before it loads.
function checkpointWorker(workerData: { dbPath: string }): Worker {
  const ext = extname(fileURLToPath(import.meta.url));
  const url = new URL(`./checkpointWorker${ext}`, import.meta.url);
  if (ext !== '.ts') return new Worker(url, { workerData });
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  return new Worker(`import(${tsx}).then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}); });`, { eval: true, workerData });
}
