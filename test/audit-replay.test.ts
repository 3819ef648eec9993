// Replay gives the live aggregator's read model; from a checkpoint the same
// as from zero; it never overwrites by accident nor leaves a partial file.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteEventLog } from '../shared/sqliteEventLog.js';
import { Aggregator } from '../services/aggregator/aggregator.js';
import { listCheckpoints, writeCheckpoint } from '../services/aggregator/checkpoints.js';
import { runReplay } from '../services/audit/commands.js';
import { replayTo } from '../services/audit/replay.js';
import { dumpTables, tempDir } from './aggregator-events.js';
import { at, writeTimeline } from './audit-timeline.js';

describe('replay', () => {
  const temp = tempDir();
  let clock = 0;
  const log = SqliteEventLog.open(join(temp.dir, 'events.db'), { clock: () => clock });
  let last = 0;
  const path = (name: string) => join(temp.dir, name);

  before(async () => {
    await writeTimeline(log, (ms) => (clock = ms));
    last = await log.lastSeq();
  });
  after(async () => {
    await log.close();
    temp.remove();
  });

  it('to now gives the live aggregator read model, table by table', async () => {
    const aggregator = Aggregator.open({ log, dbPath: path('live.db') });
    await aggregator.start();
    assert.ok(await aggregator.waitForSeq(last, 5000));
    await aggregator.stop();
    let written = '';
    await runReplay({ log, db: path('replayed.db'), to: 'now', now: new Date(at(60)) }, (s) => (written += s));
    assert.equal(written, `replayed from seq 0 to seq ${last} (${at(6)}) into ${path('replayed.db')}\n`);
    assert.ok(!existsSync(path('replayed.db.partial')) && !existsSync(path('replayed.db-wal')));
    assert.deepEqual(dumpTables(path('replayed.db')), dumpTables(path('live.db')));
  });

  it('from a checkpoint gives what replay from zero gives', async () => {
    const middle = Math.floor(last / 2);
    for (const seq of [middle - 2, middle - 1, middle]) {
      await replayTo(log, path(`at-${seq}.db`), seq);
      const db = new Database(path(`at-${seq}.db`));
      assert.equal(writeCheckpoint(db, path('checkpoints'), 2).seq, seq, 'named by the sequence it holds');
      db.close();
    }
    assert.deepEqual(listCheckpoints(path('checkpoints')).map((c) => c.seq), [middle - 1, middle]);

    const progress: [number, number][] = [];
    const fromCheckpoint = await replayTo(log, path('from-checkpoint.db'), last, { checkpointDir: path('checkpoints'), onProgress: (d, t) => progress.push([d, t]) });
    assert.equal(fromCheckpoint.fromCheckpoint, middle);
    assert.deepEqual(progress.at(-1), [last - middle, last - middle]);
    await replayTo(log, path('from-zero.db'), last);
    assert.deepEqual(dumpTables(path('from-checkpoint.db')), dumpTables(path('from-zero.db')));
    // A checkpoint after the target is not used.
    assert.equal((await replayTo(log, path('early.db'), middle - 3, { checkpointDir: path('checkpoints') })).fromCheckpoint, undefined);
  });

  it('refuses an existing file unless forced, and writes nothing on error', async () => {
    writeFileSync(path('taken.db'), 'keep me');
    await assert.rejects(replayTo(log, path('taken.db'), last), /taken\.db already exists; use --force to replace it/);
    assert.equal(readFileSync(path('taken.db'), 'utf8'), 'keep me');
    await replayTo(log, path('taken.db'), 3, { force: true });
    assert.equal(new Database(path('taken.db'), { readonly: true }).prepare('SELECT last_applied_seq FROM meta').pluck().get(), 3);

    const before = readdirSync(temp.dir).sort();
    await assert.rejects(replayTo(log, path('beyond.db'), last + 1), new RegExp(`cannot replay to seq ${last + 1}: the event log ends at seq ${last}`));
    await assert.rejects(replayTo(log, path('no-such-dir/x.db'), last), /directory .*no-such-dir does not exist/);
    await assert.rejects(runReplay({ log, db: path('early.db2'), to: '2025-06-01T11:00:00Z' }, () => {}), /earliest available moment is 2025-06-01T12:00:00.000Z/);
    assert.deepEqual(readdirSync(temp.dir).sort(), before);
  });

  it('refuses an empty log', async () => {
    const empty = SqliteEventLog.open(path('empty-events.db'));
    try {
      await assert.rejects(runReplay({ log: empty, db: path('nothing.db'), to: 'now' }, () => {}), /the event log is empty/);
      assert.ok(!existsSync(path('nothing.db')));
    } finally {
      await empty.close();
    }
  });
});
