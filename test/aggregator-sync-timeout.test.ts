// The startup rule, bounded: a cluster that never finishes its first sync
// counts as synced in the published view after syncTimeoutMs (from the start,
// or from when it first appeared), with a warning; the read model keeps its
// real state, and a frontend following the view stops answering SERVFAIL.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { pino } from 'pino';
import type { ChangeEvent } from '../shared/events.js';
import { SqliteEventLog } from '../shared/sqliteEventLog.js';
import { applyDelta, type DnsView, type ViewDelta } from '../shared/view.js';
import { Aggregator, type AggregatorOptions } from '../services/aggregator/aggregator.js';
import { ReadModel } from '../services/aggregator/readModel.js';
import { Frontend } from '../services/frontend/server.js';
import { dumpTables, fullSync, item, serviceImport, syncBegin, tempDir } from './aggregator-events.js';
import { eventually, queryUdp, rcode } from './support/dnsClient.js';

// Long enough that a loaded machine does the steps timed against it in time.
const TIMEOUT_MS = 1000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function recorder() {
  const got: { snapshots: DnsView[]; deltas: ViewDelta[]; deltaTimes: number[] } = { snapshots: [], deltas: [], deltaTimes: [] };
  const delta = (d: ViewDelta) => {
    got.deltas.push(d);
    got.deltaTimes.push(Date.now());
  };
  return { got, listener: { snapshot: (v: DnsView) => got.snapshots.push(v), delta } };
}

function memoryLogger() {
  const lines: { level: number; msg: string; cluster?: string }[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  const warnings = () => lines.filter((l) => l.level === 40 && l.cluster !== undefined);
  return { logger, warnings };
}

const syncedIds = (clusters: DnsView['clusters']) => clusters.filter((c) => c.synced).map((c) => c.id);

describe('aggregator sync timeout', () => {
  let temp: ReturnType<typeof tempDir>;
  let log: SqliteEventLog;
  const running: { stop: () => Promise<void> }[] = [];

  beforeEach(() => {
    temp = tempDir();
    log = SqliteEventLog.open(join(temp.dir, 'events.db'));
  });
  afterEach(async () => {
    for (const r of running.splice(0).reverse()) await r.stop();
    await log.close();
    temp.remove();
  });

  async function started(opts: Partial<AggregatorOptions>, db = 'readmodel.db'): Promise<Aggregator> {
    const aggregator = Aggregator.open({ log, dbPath: join(temp.dir, db), ...opts });
    running.push(aggregator);
    await aggregator.start();
    return aggregator;
  }

  async function append(...events: ChangeEvent[]): Promise<number> {
    const results = await log.append(events.map(item));
    return results[results.length - 1]!.seq;
  }

  it('publishes a silent cluster as synced after the timeout, counted from when it was first seen, with a warning', async () => {
    await append(...fullSync('east', 1));
    const { logger, warnings } = memoryLogger();
    const aggregator = await started({ expectedClusters: ['east', 'north'], syncTimeoutMs: TIMEOUT_MS, logger });
    const { got, listener } = recorder();
    aggregator.subscribe(listener);
    assert.deepEqual(syncedIds(got.snapshots[0]!.clusters), ['east']);
    assert.equal(aggregator.readiness().ok, false);

    await sleep(TIMEOUT_MS / 2);
    // west appears half way: its own timeout runs from now.
    assert.ok(await aggregator.waitForSeq(await append(syncBegin('west', 'ServiceImport', 1)), 2000));
    const westSeenAt = Date.now();

    await eventually(async () => syncedIds(aggregator.view().clusters), (ids) => ids.includes('west'), 10_000, 'west published as synced');
    assert.deepEqual(warnings().map((w) => w.cluster), ['north', 'west']);
    assert.match(warnings()[0]!.msg, /north.*first sync/);
    assert.equal(aggregator.readiness().ok, true);
    const timeouts = got.deltas.flatMap((d, i) => (d.from === d.to ? [{ clusters: d.clusters, at: got.deltaTimes[i]! }] : []));
    assert.deepEqual(
      timeouts.map((t) => t.clusters),
      [
        [{ id: 'east', synced: true }, { id: 'north', synced: true }, { id: 'west', synced: false }],
        [{ id: 'east', synced: true }, { id: 'north', synced: true }, { id: 'west', synced: true }],
      ],
      'one delta per timed-out cluster, at the same version, with the new clusters list',
    );
    // Counted from the start it would come at most TIMEOUT_MS / 2 after west appeared; a timer
    // runs from the start of the event loop's turn that set it, so it may fire a busy turn early.
    assert.ok(timeouts[1]!.at - westSeenAt > TIMEOUT_MS / 2, "west's timeout ran from when it appeared");

    // The deltas replayed on the first snapshot give the published view.
    const replayed = structuredClone(got.snapshots[0]!);
    for (const d of got.deltas) assert.ok(applyDelta(replayed, d));
    assert.deepEqual(replayed, aggregator.view());
  });

  it('changes nothing when the cluster really syncs later, and leaves the read model as replay builds it', async () => {
    await append(...fullSync('east', 1), serviceImport('west', 'prod', 'web', { ips: ['10.0.0.1'] }));
    const aggregator = await started({ syncTimeoutMs: TIMEOUT_MS });
    const { got, listener } = recorder();
    aggregator.subscribe(listener);
    await eventually(async () => syncedIds(aggregator.view().clusters), (ids) => ids.includes('west'), 10_000, 'west published as synced');

    const model = ReadModel.open(join(temp.dir, 'readmodel.db'));
    try {
      assert.deepEqual(model.clusters(), [
        { id: 'east', synced: true },
        { id: 'west', synced: false },
      ], 'the read model keeps the real state');
    } finally {
      model.close();
    }
    // A replay without any timeout builds the same tables.
    const replay = await started({}, 'replay.db');
    assert.ok(await replay.waitForSeq(await log.lastSeq(), 2000));
    assert.deepEqual(dumpTables(join(temp.dir, 'replay.db')), dumpTables(join(temp.dir, 'readmodel.db')));

    const before = got.deltas.length;
    assert.ok(await aggregator.waitForSeq(await append(...fullSync('west', 1)), 2000));
    const later = got.deltas.slice(before);
    assert.equal(later.length, 1);
    assert.equal(later[0]!.clusters, undefined, 'the published clusters did not change');
    assert.deepEqual(syncedIds(aggregator.view().clusters), ['east', 'west']);
  });

  it('never fires for a cluster that syncs in time, nor without the option', async () => {
    const { logger, warnings } = memoryLogger();
    const untimed = await started({ expectedClusters: ['east', 'north'] }, 'untimed.db');
    const timed = await started({ expectedClusters: ['east'], syncTimeoutMs: TIMEOUT_MS, logger });
    const { got, listener } = recorder();
    timed.subscribe(listener);
    assert.ok(await timed.waitForSeq(await append(...fullSync('east', 1)), 2000));
    // east's deadline, set at start, is past.
    await sleep(TIMEOUT_MS);
    assert.deepEqual(warnings(), []);
    assert.ok(got.deltas.every((d) => d.from !== d.to), 'no timeout delta');
    assert.deepEqual(syncedIds(untimed.view().clusters), ['east'], 'without the option north waits forever');
  });

  it('turns a following frontend from SERVFAIL to NXDOMAIN for missing names', async () => {
    await append(...fullSync('east', 1));
    const aggregator = await started({ expectedClusters: ['east', 'north'], syncTimeoutMs: TIMEOUT_MS });
    const frontend = new Frontend(aggregator, { zones: ['clusterset.local'], listen: { host: '127.0.0.1', port: 0 } });
    await frontend.start();
    running.push(frontend);
    const { port } = frontend.address;
    assert.equal(rcode(await queryUdp(port, 'missing.clusterset.local', 'A')), 'SERVFAIL');
    await eventually(async () => rcode(await queryUdp(port, 'missing.clusterset.local', 'A')), (r) => r === 'NXDOMAIN', 10_000, 'NXDOMAIN after the timeout');
    assert.equal(frontend.synced, true);
  });

  it('rejects a sync timeout that is not a whole number of milliseconds', () => {
    assert.throws(() => Aggregator.open({ log, dbPath: join(temp.dir, 'x.db'), syncTimeoutMs: -1 }), /sync timeout/);
  });
});
