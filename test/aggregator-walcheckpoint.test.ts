// The read model's WAL is copied into the database file by a worker thread,
// never by the aggregator's commits; if the worker fails, the commits do it.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { pino } from 'pino';
import { ReadModel } from '../services/aggregator/readModel.js';
import { tempDir } from './aggregator-events.js';

const PAYLOAD = 'x'.repeat(3000); // a row of about a page
const ROWS = 2000;
const ROWS_PER_COMMIT = 250;

const walBytes = (dbPath: string) => statSync(`${dbPath}-wal`, { throwIfNoEntry: false })?.size ?? 0;
const threads = () => readdirSync('/proc/self/task').length;

// The process's thread count once threads of earlier tests finished ending.
async function settledThreads(): Promise<number> {
  for (let count = threads(); ; ) {
    await sleep(200);
    if (threads() === count) return count;
    count = threads();
  }
}

async function until(what: string, done: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await sleep(10);
  }
}

// Rewrites the same rows commit after commit, as a catch-up rewrites pages, with a
// moment between commits as the aggregator has; returns the WAL's sizes after each.
async function rewriteRows(model: ReadModel, walPages: number): Promise<number[]> {
  const upsert = model.db.prepare<[number, string]>(
    `INSERT INTO rejected_events (seq, id, cluster, reason, payload) VALUES (?, 'id', 'c', 'test', ?)
     ON CONFLICT (seq) DO UPDATE SET payload = excluded.payload`,
  );
  const commit = model.db.transaction((from: number, pass: number) => {
    for (let seq = from; seq < from + ROWS_PER_COMMIT; seq++) upsert.run(seq % ROWS, `${pass}${PAYLOAD}`);
  });
  const sizes: number[] = [];
  for (let written = 0, pass = 0; written < walPages; written += ROWS_PER_COMMIT, pass++) {
    commit(written % ROWS, pass);
    sizes.push(walBytes(model.path));
    await sleep(2);
  }
  return sizes;
}

function warnings(): { logger: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({ write: (chunk: Buffer, _encoding, done) => (lines.push(chunk.toString()), done()) });
  return { logger: pino({ level: 'warn' }, stream), lines };
}

describe('aggregator: WAL checkpoints on a worker thread', () => {
  let temp: ReturnType<typeof tempDir>;
  let dbPath: string;

  beforeEach(() => {
    temp = tempDir();
    dbPath = join(temp.dir, 'readmodel.db');
  });
  afterEach(() => temp.remove());

  it('keeps the WAL bounded through many commits, the commits checkpointing only far past the limit', async () => {
    const model = ReadModel.open(dbPath);
    try {
      const limitBytes = model.db.pragma('journal_size_limit', { simple: true }) as number;
      const limitPages = limitBytes / (model.db.pragma('page_size', { simple: true }) as number);
      assert.equal(model.db.pragma('wal_autocheckpoint', { simple: true }), 2 * limitPages);
      const sizes = await rewriteRows(model, 5 * limitPages);
      const largest = Math.max(...sizes);
      assert.ok(largest < 3 * limitBytes, `the WAL grew to ${largest} bytes, limit ${limitBytes}`);
      // It shrank: the writer started it over after the worker copied all of it.
      assert.ok(
        sizes.some((size, i) => i > 0 && size < sizes[i - 1]!),
        `the WAL never started over: ${sizes.join(' ')}`,
      );
    } finally {
      model.close();
    }
    assert.equal(existsSync(`${dbPath}-wal`), false);
  });

  it('falls back to checkpoints in the commits, with one warning, when the worker cannot open the database', async () => {
    const { logger, lines } = warnings();
    const model = ReadModel.open(dbPath, { logger });
    renameSync(dbPath, join(temp.dir, 'moved.db')); // before the worker gets to open it
    try {
      await until('the fallback', () => lines.length > 0);
      assert.equal(lines.length, 1);
      assert.match(lines[0]!, /the commits checkpoint instead/);
      assert.equal(model.db.pragma('wal_autocheckpoint', { simple: true }), 10_000);
    } finally {
      model.close();
    }
    assert.equal(lines.length, 1);
  });

  it('close() closes the worker connection first: no WAL is left, and the thread ends', async () => {
    const before = await settledThreads();
    const model = ReadModel.open(dbPath);
    await until('the worker thread runs', () => threads() > before);
    await sleep(500); // it opened its connection and looked at the WAL
    model.close();
    assert.equal(existsSync(`${dbPath}-wal`), false);
    await until('the worker thread ends', () => threads() <= before);
  });

  it('close() right after open() leaves no WAL and no thread', async () => {
    const before = await settledThreads();
    ReadModel.open(dbPath).close();
    assert.equal(existsSync(`${dbPath}-wal`), false);
    await until('the worker thread ends', () => threads() <= before);
  });

  it('starts no worker for a read model in memory', async () => {
    const before = await settledThreads();
    const model = ReadModel.open(':memory:');
    await sleep(200);
    assert.equal(threads(), before);
    model.close();
  });
});
