// The aggregator writes read-model checkpoints every N events, keeps the
// newest few, and each equals a replay of the log up to its sequence.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Aggregator } from '../services/aggregator/aggregator.js';
import { listCheckpoints } from '../services/aggregator/checkpoints.js';
import { replayTo } from '../services/audit/replay.js';
import { SqliteEventLog } from '../shared/sqliteEventLog.js';
import { dumpTables, fullSync, item, serviceImport, tempDir } from './aggregator-events.js';

describe('aggregator checkpoints', () => {
  it('writes one when a batch crosses a multiple of N, keeps the newest, each equal to a replay to its sequence', async () => {
    const tmp = tempDir();
    try {
      const log = SqliteEventLog.open(join(tmp.dir, 'events.db'));
      const events = [...fullSync('east', 1)];
      for (let i = 0; events.length < 23; i++) events.push(serviceImport('east', 'prod', `svc-${i}`, { ips: ['10.0.0.1'] }));
      await log.append(events.map(item));
      const dir = join(tmp.dir, 'checkpoints');
      const aggregator = Aggregator.open({ log, dbPath: join(tmp.dir, 'rm.db'), batchSize: 3, checkpoints: { dir, every: 5, keep: 2 } });
      await aggregator.start();
      assert.ok(await aggregator.waitForSeq(23, 5000));
      await aggregator.stop();
      // Batches end at 3, 6, …, 21, 23: multiples of 5 were crossed at 6, 12, 15 and 21. Each
      // checkpoint is written beside the event loop, of the moment it starts, and named by what it holds.
      const kept = listCheckpoints(dir);
      assert.ok(kept.length >= 1 && kept.length <= 2, `keeps the newest 2: ${JSON.stringify(kept)}`);
      assert.ok(kept.every((c) => c.seq >= 6 && c.seq <= 23));
      assert.deepEqual(readdirSync(dir).filter((f) => f.includes('partial')), [], 'no copy left half written');

      for (const c of kept) {
        const path = join(tmp.dir, `replay-${c.seq}.db`);
        await replayTo(log, path, c.seq);
        assert.deepEqual(dumpTables(c.path), dumpTables(path));
      }
      await log.close();
    } finally {
      tmp.remove();
    }
  });
});
