// The aggregator over a real embedded log: the view it derives, the deltas it
// publishes, and exactly-once application across restarts.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import type { ChangeEvent } from '../shared/events.js';
import type { EventLog } from '../shared/eventLog.js';
import { SqliteEventLog } from '../shared/sqliteEventLog.js';
import { applyDelta, type DnsView, type ViewDelta } from '../shared/view.js';
import { Aggregator, VIEW_PACING_MS, type AggregatorOptions } from '../services/aggregator/aggregator.js';
import { Projection } from '../services/aggregator/projection.js';
import {
  deleted,
  dumpTables,
  endpointSlice,
  fullSync,
  item,
  namespace,
  ready,
  serviceImport,
  syncBegin,
  syncEnd,
  tempDir,
} from './aggregator-events.js';

// Records what a subscriber receives.
function recorder() {
  const got: { snapshots: DnsView[]; deltas: ViewDelta[] } = { snapshots: [], deltas: [] };
  const listener = {
    snapshot: (view: DnsView) => got.snapshots.push(view),
    delta: (delta: ViewDelta) => got.deltas.push(delta),
  };
  return { got, listener };
}

// The snapshot with every delta applied in order; fails on a gap.
function replayed(snapshot: DnsView, deltas: ViewDelta[]): DnsView {
  const view = structuredClone(snapshot);
  for (const d of deltas) assert.ok(applyDelta(view, d), `delta ${d.from}→${d.to} does not follow version ${view.version}`);
  return view;
}

describe('aggregator', () => {
  let temp: ReturnType<typeof tempDir>;
  let log: SqliteEventLog;
  const running: Aggregator[] = [];

  beforeEach(() => {
    temp = tempDir();
    log = SqliteEventLog.open(join(temp.dir, 'events.db'));
  });
  afterEach(async () => {
    for (const a of running.splice(0)) await a.stop();
    await log.close();
    temp.remove();
  });

  function open(opts: Partial<AggregatorOptions> = {}): Aggregator {
    const aggregator = Aggregator.open({ log, dbPath: join(temp.dir, 'readmodel.db'), ...opts });
    running.push(aggregator);
    return aggregator;
  }

  async function append(...events: ChangeEvent[]): Promise<number> {
    const results = await log.append(events.map(item));
    return results[results.length - 1]!.seq;
  }

  async function caughtUp(aggregator: Aggregator): Promise<void> {
    assert.ok(await aggregator.waitForSeq(await log.lastSeq(), 5000), 'aggregator caught up with the log');
  }

  it('derives the view: records across clusters, namespaces, cluster states', async () => {
    await append(
      ...fullSync('east', 1),
      serviceImport('east', 'prod', 'web', { ips: ['10.0.0.1'] }),
      serviceImport('west', 'prod', 'web', { ips: ['10.0.0.2', '10.0.0.1'] }),
      namespace('east', 'prod'),
      namespace('west', 'dev'),
    );
    const aggregator = open({ expectedClusters: ['north', 'east'] });
    await aggregator.start();
    await caughtUp(aggregator);
    const view = aggregator.view();
    assert.equal(view.version, 10);
    assert.deepEqual(view.clusters, [
      { id: 'east', synced: true },
      { id: 'north', synced: false },
      { id: 'west', synced: false },
    ]);
    assert.deepEqual(view.namespaces, ['dev', 'prod']);
    assert.deepEqual(Object.keys(view.services), ['prod/web']);
    assert.deepEqual(view.services['prod/web']?.names['web.prod.svc'], [
      { type: 'A', address: '10.0.0.1' },
      { type: 'A', address: '10.0.0.2' },
    ]);
  });

  it('puts garbage and impostor events aside and keeps going', async () => {
    const aggregator = open();
    await aggregator.start();
    const impostor = item(serviceImport('west', 'prod', 'api', { ips: ['10.9.9.9'] }));
    await log.append([
      { id: 'garbage', cluster: 'east', payload: 'not json at all' },
      { ...impostor, cluster: 'east' },
      { id: 'bad-kind', cluster: 'east', payload: JSON.stringify({ ...JSON.parse(impostor.payload), cluster: 'east', kind: 'Pod' }) },
    ]);
    await append(serviceImport('east', 'prod', 'web', { ips: ['10.0.0.1'] }));
    await caughtUp(aggregator);
    assert.equal(aggregator.rejectedEvents, 3);
    assert.equal(aggregator.lastApplied, 4);
    assert.deepEqual(Object.keys(aggregator.view().services), ['prod/web']);
  });

  it('drops from the view what a re-list no longer contains', async () => {
    await append(
      ...fullSync('east', 1),
      serviceImport('east', 'prod', 'web', { ips: ['10.0.0.1'] }, 1),
      serviceImport('east', 'prod', 'old', { ips: ['10.0.0.9'] }, 1),
    );
    const aggregator = open();
    await aggregator.start();
    await caughtUp(aggregator);
    const { got, listener } = recorder();
    aggregator.subscribe(listener);
    await append(
      syncBegin('east', 'ServiceImport', 2),
      serviceImport('east', 'prod', 'web', { ips: ['10.0.0.1'] }, 2),
      syncEnd('east', 'ServiceImport', 2),
    );
    await caughtUp(aggregator);
    assert.deepEqual(Object.keys(aggregator.view().services), ['prod/web']);
    // The re-listed but unchanged service is not republished.
    assert.deepEqual(got.deltas.flatMap((d) => d.services.remove), ['prod/old']);
    assert.deepEqual(got.deltas.flatMap((d) => Object.keys(d.services.upsert)), []);
  });

  it('publishes contiguous deltas that turn the first snapshot into the current view', async () => {
    const aggregator = open({ expectedClusters: ['east'], batchSize: 2 });
    const transactions = mock.method(Projection.prototype, 'applyBatch');
    const { got, listener } = recorder();
    aggregator.subscribe(listener);
    assert.equal(got.snapshots.length, 0, 'no snapshot before start');
    await aggregator.start();
    assert.deepEqual(got.snapshots.map((s) => s.version), [0]);
    await append(serviceImport('east', 'prod', 'web', { ips: ['10.0.0.1'] }), namespace('east', 'prod'));
    await append(...fullSync('east', 1));
    await append(serviceImport('east', 'prod', 'db', { type: 'Headless' }));
    await append(endpointSlice('east', 'prod', 'db-1', 'db', [ready('10.1.0.1'), ready('10.1.0.2')]));
    await caughtUp(aggregator);
    await new Promise((resolve) => setTimeout(resolve, VIEW_PACING_MS)); // so that the next event gets a delta of its own
    await append(namespace('east', 'prod')); // changes no answer: an empty delta still advances the version
    await append(deleted('east', 'ServiceImport', 'prod', 'web'), deleted('east', 'Namespace', '', 'prod'));
    await caughtUp(aggregator);
    const [snapshot] = got.snapshots;
    assert.ok(snapshot);
    assert.equal(got.deltas[0]?.from, 0);
    got.deltas.forEach((d, i) => assert.equal(d.from, i === 0 ? 0 : got.deltas[i - 1]!.to));
    assert.equal(got.deltas.at(-1)?.to, aggregator.lastApplied);
    assert.ok(got.deltas.some((d) => Object.keys(d.services.upsert).length === 0 && !d.namespaces && !d.clusters));
    const sizes = transactions.mock.calls.map((call) => call.arguments[0].length);
    transactions.mock.restore();
    assert.ok(sizes.every((n) => n <= 2), `no transaction is larger than batchSize: ${sizes.join(' ')}`);
    const view = aggregator.view();
    assert.deepEqual(replayed(snapshot, got.deltas), view);
    assert.deepEqual(Object.keys(view.services), ['prod/db']);
    assert.deepEqual(view.clusters, [{ id: 'east', synced: true }]);
    assert.deepEqual(view.namespaces, []);
  });

  it('gives a late subscriber a snapshot of now, then the deltas after it', async () => {
    const aggregator = open();
    await aggregator.start();
    await append(serviceImport('east', 'prod', 'web', { ips: ['10.0.0.1'] }));
    await caughtUp(aggregator);
    const { got, listener } = recorder();
    const unsubscribe = aggregator.subscribe(listener);
    assert.deepEqual(got.snapshots.map((s) => s.version), [1]);
    await append(serviceImport('east', 'prod', 'web', { ips: ['10.0.0.2'] }));
    await append(serviceImport('east', 'prod', 'api', { ips: ['10.0.0.3'] }));
    await caughtUp(aggregator);
    assert.deepEqual(replayed(got.snapshots[0]!, got.deltas), aggregator.view());
    unsubscribe();
    await append(namespace('east', 'prod'));
    await caughtUp(aggregator);
    assert.equal(got.deltas.at(-1)?.to, 3, 'no delta after unsubscribing');
  });

  it('resumes after a restart where it left off, applying nothing twice', async () => {
    const dbPath = join(temp.dir, 'readmodel.db');
    await append(
      ...fullSync('east', 1),
      serviceImport('east', 'prod', 'web', { ips: ['10.0.0.1'] }),
      endpointSlice('east', 'prod', 'web-1', 'web', [ready('10.1.0.1')]),
      namespace('east', 'prod'),
    );
    await log.append([{ id: 'garbage', cluster: 'east', payload: '[]' }]);
    const first = open({ dbPath });
    await first.start();
    await caughtUp(first);
    await first.stop();
    const before = await log.lastSeq();

    await append(
      serviceImport('east', 'prod', 'web', { ips: ['10.0.0.2'] }),
      deleted('east', 'EndpointSlice', 'prod', 'web-1'),
      ...fullSync('west', 1),
      namespace('west', 'dev'),
    );
    const follows: number[] = [];
    const watched: EventLog = Object.create(log, {
      follow: { value: (from: number, signal: AbortSignal) => (follows.push(from), log.follow(from, signal)) },
    });
    const second = open({ dbPath, log: watched });
    assert.equal(second.lastApplied, before);
    await second.start();
    await caughtUp(second);
    assert.deepEqual(follows, [before + 1]);
    const resumedView = second.view();
    await second.stop();

    const fresh = open({ dbPath: join(temp.dir, 'fresh.db') });
    await fresh.start();
    await caughtUp(fresh);
    assert.deepEqual(fresh.view(), resumedView);
    await fresh.stop();
    assert.deepEqual(dumpTables(dbPath), dumpTables(join(temp.dir, 'fresh.db')));
  });

  it('retries from the last applied event when the log fails under it', async () => {
    await append(serviceImport('east', 'prod', 'web'), serviceImport('east', 'prod', 'api'));
    const follows: number[] = [];
    const flaky: EventLog = Object.create(log, {
      follow: {
        value: async function* (from: number, signal: AbortSignal) {
          follows.push(from);
          for await (const batch of log.follow(from, signal)) {
            yield { events: batch.events.slice(0, 1), behind: batch.behind + batch.events.length - 1 };
            if (follows.length === 1) throw new Error('connection lost');
          }
        },
      },
    });
    const aggregator = open({ log: flaky });
    await aggregator.start();
    await caughtUp(aggregator);
    assert.deepEqual(follows, [1, 2]);
    assert.deepEqual(Object.keys(aggregator.view().services).sort(), ['prod/api', 'prod/web']);
  });

  it('refuses a read model that is ahead of its log', async () => {
    const dbPath = join(temp.dir, 'readmodel.db');
    await append(serviceImport('east', 'prod', 'web'));
    const first = open({ dbPath });
    await first.start();
    await caughtUp(first);
    await first.stop();
    const emptyLog = SqliteEventLog.open(join(temp.dir, 'other-events.db'));
    const second = open({ dbPath, log: emptyLog });
    await assert.rejects(second.start(), { message: /^read model .*readmodel\.db has applied up to seq 1 but the event log ends at 0/ });
    await emptyLog.close();
  });

  it('says when a seq is not reached in time, and refuses bad options in one line', async () => {
    const aggregator = open();
    await aggregator.start();
    assert.equal(await aggregator.waitForSeq(1, 20), false);
    assert.throws(() => open({ expectedClusters: ['Not_A_Label'] }), { message: /expected cluster "Not_A_Label"/ });
    assert.throws(() => open({ dbPath: join(temp.dir, 'missing', 'rm.db') }), { message: /^cannot open read model .*rm\.db: / });
  });
});
