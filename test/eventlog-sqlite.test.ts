import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { SqliteEventLog } from '../shared/sqliteEventLog.js';
import type { StoredEvent } from '../shared/eventLog.js';
import { eventLogContract } from './eventLogContract.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'mcsdns-eventlog-'));
}

eventLogContract('SqliteEventLog', async () => {
  const dir = tempDir();
  const path = join(dir, 'events.db');
  return {
    log: SqliteEventLog.open(path),
    reopen: async () => SqliteEventLog.open(path),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

describe('SqliteEventLog', () => {
  const dir = tempDir();
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('names the path in a one-line error when the directory does not exist', () => {
    const path = join(dir, 'missing', 'events.db');
    assert.throws(() => SqliteEventLog.open(path), { message: /^cannot open event log .*missing\/events\.db: [^\n]+$/ });
  });

  it('names the path in a one-line error when the file is not a database', () => {
    const path = join(dir, 'not-a-db');
    writeFileSync(path, 'this is plain text, long enough to look like a header of something else entirely\n'.repeat(20));
    assert.throws(() => SqliteEventLog.open(path), { message: /^cannot open event log .*not-a-db: file is not a database$/ });
  });

  it('refuses a schema newer than it knows', () => {
    const path = join(dir, 'newer.db');
    const db = new Database(path);
    db.pragma('user_version = 99');
    db.close();
    assert.throws(() => SqliteEventLog.open(path), {
      message: /^cannot open event log .*newer\.db: schema version 99 is newer/,
    });
  });

  it('records the schema version and an index on time that seqAtTime uses', () => {
    const path = join(dir, 'schema.db');
    SqliteEventLog.open(path).close();
    const db = new Database(path, { readonly: true });
    assert.equal(db.pragma('user_version', { simple: true }), 1);
    const plan = db
      .prepare('EXPLAIN QUERY PLAN SELECT seq FROM events WHERE time >= ? ORDER BY time, seq LIMIT 1')
      .all(0) as { detail: string }[];
    db.close();
    assert.match(plan.map((p) => p.detail).join(';'), /USING COVERING INDEX events_time/);
  });

  it('delivers appends made through another object on the same file, by polling', async () => {
    const path = join(dir, 'shared.db');
    const reader = SqliteEventLog.open(path, { pollIntervalMs: 20 });
    const writer = SqliteEventLog.open(path);
    const controller = new AbortController();
    const seen: StoredEvent[] = [];
    const following = (async () => {
      for await (const batch of reader.follow(1, controller.signal)) {
        seen.push(...batch.events);
        if (seen.length >= 3) controller.abort();
      }
    })();
    await writer.append([{ id: 'a', cluster: 'east', payload: '1' }]);
    await sleep(50);
    await writer.append([
      { id: 'b', cluster: 'east', payload: '2' },
      { id: 'c', cluster: 'west', payload: '3' },
    ]);
    await following;
    assert.deepEqual(seen.map((e) => e.id), ['a', 'b', 'c']);
    await reader.close();
    await writer.close();
  });

  it('follows a backlog in batches of followBatchSize, each saying how many wait beyond it', async () => {
    const log = SqliteEventLog.open(join(dir, 'backlog.db'), { followBatchSize: 4 });
    await log.append(Array.from({ length: 10 }, (_, n) => ({ id: `e${n}`, cluster: 'east', payload: '{}' })));
    const controller = new AbortController();
    const batches: [number, number][] = [];
    for await (const { events, behind } of log.follow(1, controller.signal)) {
      batches.push([events.length, behind]);
      if (behind === 0) controller.abort();
    }
    assert.deepEqual(batches, [[4, 6], [4, 2], [2, 0]]);
    await log.close();
  });

  it('leaves no timer behind once a follower stops', async () => {
    const log = SqliteEventLog.open(join(dir, 'timers.db'));
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const controller = new AbortController();
    const following = (async () => {
      for await (const _ of log.follow(1, controller.signal));
    })();
    await sleep(10);
    assert.equal(timers(), before + 1, 'a waiting follower holds one poll timer');
    controller.abort();
    await following;
    assert.equal(timers(), before);
    await log.close();
  });

  it('ends a follower with an error when the log is closed under it', async () => {
    const log = SqliteEventLog.open(join(dir, 'closed.db'));
    const following = (async () => {
      for await (const _ of log.follow(1, new AbortController().signal));
    })();
    await sleep(10);
    await log.close();
    await assert.rejects(following, /event log is closed/);
  });
});
