// Checkpoints only make audits faster: resolve, history and diff give the
// same output at every point with and without them, and a checkpoint that
// cannot be used is passed over.
import assert from 'node:assert/strict';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { checkpointFile, listCheckpoints, writeCheckpoint } from '../services/aggregator/checkpoints.js';
import { Projection } from '../services/aggregator/projection.js';
import { ReadModel } from '../services/aggregator/readModel.js';
import { runAuditDiff, runAuditHistory, runAuditResolve } from '../services/audit/commands.js';
import { ReplayedState } from '../services/audit/state.js';
import { SqliteEventLog } from '../shared/sqliteEventLog.js';
import { tempDir } from './aggregator-events.js';
import { writeTimeline } from './audit-timeline.js';

const zone = 'clusterset.local';
const names: [string, string][] = [
  ['web.prod.svc', 'A'],
  ['db.prod.svc', 'A'],
  ['_pg._tcp.db.prod.svc', 'SRV'],
  ['10-2-0-1.west.db.prod.svc', 'A'],
  ['ghost.prod.svc', 'A'],
  [zone, 'SOA'],
];
const targets = ['prod/web', 'prod/db', 'db.prod.svc', '10-2-0-1.west.db.prod.svc', 'prod/ghost'];

describe('audit with and without checkpoints', () => {
  const temp = tempDir();
  const checkpointDir = join(temp.dir, 'checkpoints');
  let clock = 0;
  const log = SqliteEventLog.open(join(temp.dir, 'events.db'), { clock: () => clock });
  let last = 0;

  before(async () => {
    await writeTimeline(log, (ms) => (clock = ms));
    last = await log.lastSeq();
    // The projection as the aggregator runs it, one event per batch: a checkpoint every 4 events.
    const model = ReadModel.open(join(temp.dir, 'live.db'));
    const projection = new Projection(model);
    for (const event of await log.read(1, last)) {
      projection.applyBatch([event]);
      if (event.seq % 4 === 0) writeCheckpoint(model.db, checkpointDir, 100);
    }
    model.close();
    // Three that cannot be used: not SQLite, another schema, and a file named for another sequence.
    writeFileSync(checkpointFile(checkpointDir, 12), 'not a database');
    new Database(checkpointFile(checkpointDir, 14)).exec('CREATE TABLE other (x)').close();
    copyFileSync(checkpointFile(checkpointDir, 16), checkpointFile(checkpointDir, 18));
  });
  after(async () => {
    await log.close();
    temp.remove();
  });

  // What a command printed, or the one line it failed with.
  const outcome = async (run: (out: (s: string) => void) => Promise<void>) => {
    let text = '';
    try {
      await run((s) => (text += s));
      return text;
    } catch (err) {
      return `error: ${(err as Error).message}`;
    }
  };
  const both = async (run: (dir: string | undefined) => (out: (s: string) => void) => Promise<void>) => ({
    with: await outcome(run(checkpointDir)),
    without: await outcome(run(undefined)),
  });

  it('starts from the newest usable checkpoint at or before the point', () => {
    assert.ok(last >= 24, `the timeline has ${last} events`);
    assert.deepEqual(listCheckpoints(checkpointDir).map((c) => c.seq).filter((s) => s <= 24), [4, 8, 12, 14, 16, 18, 20, 24]);
    const startsAt = (dir: string | undefined, seq: number) => {
      const state = ReplayedState.nearest(dir, seq);
      const start = state.seq;
      state.close();
      return start;
    };
    const cases: [number, number][] = [[3, 0], [4, 4], [11, 8], [13, 8], [15, 8], [17, 16], [19, 16], [20, 20], [last, Math.floor(last / 4) * 4]];
    for (const [seq, start] of cases) assert.equal(startsAt(checkpointDir, seq), start, `at seq ${seq}`);
    assert.equal(startsAt(join(temp.dir, 'no-such-dir'), last), 0);
    assert.equal(startsAt(undefined, last), 0);
  });

  it('resolve gives the same answer and last change at every point', async () => {
    for (let seq = 1; seq <= last; seq++) {
      for (const [name, type] of names) {
        const r = await both((dir) => (out) => runAuditResolve({ log, zone, ttl: 5, json: true, name, type, at: `#${seq}`, checkpointDir: dir }, out));
        assert.equal(r.with, r.without, `${name} ${type} at seq ${seq}`);
      }
    }
  });

  it('history gives the same events since every point, and the same errors', async () => {
    for (let since = 1; since <= last; since++) {
      for (const target of targets) {
        const r = await both((dir) => (out) => runAuditHistory({ log, zone, json: true, target, since: `#${since}`, checkpointDir: dir }, out));
        assert.equal(r.with, r.without, `${target} since seq ${since}`);
      }
    }
  });

  it('diff gives the same differences from every point to a few later ones', async () => {
    for (let from = 1; from <= last; from++) {
      for (const to of new Set([from, Math.min(from + 5, last), last])) {
        const r = await both((dir) => (out) => runAuditDiff({ log, zone, json: true, from: `#${from}`, to: `#${to}`, checkpointDir: dir }, out));
        assert.equal(r.with, r.without, `from seq ${from} to ${to}`);
      }
    }
  });
});
