// Checkpoints: copies of the read model at known sequences, so that a replay
// to an old moment starts from the newest one at or before it instead of
// from zero. Only an optimisation: replay from zero gives the same database.
import { mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';

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
// name until complete) and keeps only the newest `keep` checkpoints.
export function writeCheckpoint(db: Database.Database, seq: number, dir: string, keep: number): Checkpoint {
  mkdirSync(dir, { recursive: true });
  const path = checkpointFile(dir, seq);
  const partial = `${path}.partial`;
  rmSync(partial, { force: true });
  db.prepare('VACUUM INTO ?').run(partial);
  renameSync(partial, path);
  for (const old of listCheckpoints(dir).slice(0, -Math.max(1, keep))) rmSync(old.path, { force: true });
  return { seq, path };
}
