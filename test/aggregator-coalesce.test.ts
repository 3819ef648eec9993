// The aggregator behind the log and in step with it: a backlog is projected
// batch by batch but derived into the view once, when caught up; a trickle
// still gets one delta per batch at once; batches in quick succession get
// deltas VIEW_PACING_MS apart; a backlog that stops coming is published
// after VIEW_DEFER_MS.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { Aggregator, VIEW_DEFER_MS, VIEW_PACING_MS } from '../services/aggregator/aggregator.js';
import { fullView } from '../services/aggregator/dnsView.js';
import { Projection } from '../services/aggregator/projection.js';
import { ReadModel } from '../services/aggregator/readModel.js';
import type { EventLog, FollowedBatch } from '../shared/eventLog.js';
import type { ChangeEvent } from '../shared/events.js';
import { silentLogger } from '../shared/logger.js';
import { SqliteEventLog } from '../shared/sqliteEventLog.js';
import { applyDelta, type DnsView, type ViewDelta } from '../shared/view.js';
import { endpointSlice, fullSync, item, namespace, ready, serviceImport, stored, tempDir } from './aggregator-events.js';

const CLUSTERS = ['east', 'west', 'north'];
const SERVICES = 20;

// Each cluster's sync as agents publish it: every import, then every slice,
// so that each service's six events lie far apart in the log.
function clustersetSync(): ChangeEvent[] {
  const events: ChangeEvent[] = [];
  const services = Array.from({ length: SERVICES }, (_, s) => `svc-${s}`);
  for (const cluster of CLUSTERS) events.push(...fullSync(cluster, 1), namespace(cluster, 'prod'));
  for (const name of services) for (const cluster of CLUSTERS) events.push(serviceImport(cluster, 'prod', name, { type: 'Headless' }));
  services.forEach((name, s) => {
    for (const cluster of CLUSTERS) events.push(endpointSlice(cluster, 'prod', `${name}-${cluster}`, name, [ready(`10.${s}.0.${CLUSTERS.indexOf(cluster) + 1}`)]));
  });
  return events;
}

function recorder() {
  const deltas: { delta: ViewDelta; at: number }[] = [];
  const snapshots: DnsView[] = [];
  return { deltas, snapshots, listener: { snapshot: (v: DnsView) => snapshots.push(v), delta: (delta: ViewDelta) => deltas.push({ delta, at: performance.now() }) } };
}

describe('aggregator behind the log and in step with it', () => {
  let temp: ReturnType<typeof tempDir>;
  let log: SqliteEventLog;
  const running: Aggregator[] = [];

  beforeEach(() => {
    temp = tempDir();
    log = SqliteEventLog.open(join(temp.dir, 'events.db'), { followBatchSize: 10 });
  });
  afterEach(async () => {
    mock.restoreAll();
    for (const a of running.splice(0)) await a.stop();
    await log.close();
    temp.remove();
  });

  function open(source: EventLog = log): Aggregator {
    const aggregator = Aggregator.open({ log: source, dbPath: join(temp.dir, 'readmodel.db'), batchSize: 5 });
    running.push(aggregator);
    return aggregator;
  }

  it('projects a backlog batch by batch and derives each touched service once, in one delta', async () => {
    const events = clustersetSync();
    await log.append(events.map(item));
    const lastSeq = await log.lastSeq();
    const derived = new Map<string, number>();
    const service = ReadModel.prototype.service;
    mock.method(ReadModel.prototype, 'service', function (this: ReadModel, namespace: string, name: string) {
      derived.set(`${namespace}/${name}`, (derived.get(`${namespace}/${name}`) ?? 0) + 1);
      return service.call(this, namespace, name);
    });
    const transactions = mock.method(Projection.prototype, 'applyBatch');
    const aggregator = open();
    const { deltas, snapshots, listener } = recorder();
    aggregator.subscribe(listener);
    await aggregator.start();
    assert.ok(await aggregator.waitForSeq(lastSeq, 5000));

    const applied = transactions.mock.calls.flatMap((call) => call.arguments[0].map((e) => e.seq));
    assert.deepEqual(applied, Array.from({ length: lastSeq }, (_, i) => i + 1), 'every event applied once, in order');
    assert.ok(transactions.mock.calls.every((call) => call.arguments[0].length <= 5), 'transactions of at most batchSize');
    assert.equal(aggregator.lastApplied, lastSeq);
    assert.deepEqual([...derived.values()], Array(SERVICES).fill(1), 'the record model ran once per service');
    assert.deepEqual(deltas.map(({ delta }) => [delta.from, delta.to]), [[0, lastSeq]]);
    assert.equal(deltas[0]!.delta.observedAt?.length, events.length);

    const view = aggregator.view();
    const replayed = structuredClone(snapshots[0]!);
    assert.ok(applyDelta(replayed, deltas[0]!.delta));
    assert.deepEqual(replayed, view);
    await aggregator.stop();
    const model = ReadModel.open(join(temp.dir, 'readmodel.db'), { objectsInMemory: true });
    try {
      assert.deepEqual(view, fullView({ model, expectedClusters: [], logger: silentLogger }, lastSeq));
    } finally {
      model.close();
    }
    assert.equal(Object.keys(view.services).length, SERVICES);
  });

  it('publishes a trickle one delta per batch, without waiting', async () => {
    await log.append(fullSync('east', 1).map(item));
    const aggregator = open();
    await aggregator.start();
    assert.ok(await aggregator.waitForSeq(await log.lastSeq(), 5000));
    const { deltas, listener } = recorder();
    aggregator.subscribe(listener);
    for (let n = 1; n <= 5; n++) {
      await new Promise((resolve) => setTimeout(resolve, VIEW_PACING_MS));
      const appendedAt = performance.now();
      const { seq } = (await log.append([item(serviceImport('east', 'prod', `svc-${n}`, { ips: [`10.0.0.${n}`] }))]))[0]!;
      assert.ok(await aggregator.waitForSeq(seq, 5000));
      const last = deltas.at(-1)!;
      assert.deepEqual([last.delta.from, last.delta.to], [seq - 1, seq]);
      assert.deepEqual(Object.keys(last.delta.services.upsert), [`prod/svc-${n}`]);
      assert.ok(last.at - appendedAt < VIEW_DEFER_MS, `delta ${last.at - appendedAt} ms after the append`);
    }
    assert.equal(deltas.length, 5);
  });

  it('paces deltas of batches in quick succession: after one delta, the next batches go in one delta VIEW_PACING_MS later', async () => {
    const events = stored([...fullSync('east', 1), ...[1, 2, 3, 4, 5].map((n) => serviceImport('east', 'prod', `svc-${n}`, { ips: [`10.0.0.${n}`] }))].map(item));
    const syncLength = events.length - 5;
    const inQuickSuccession: EventLog = Object.create(log, {
      follow: {
        value: async function* (from: number, signal: AbortSignal): AsyncGenerator<FollowedBatch> {
          // The sync, then each change alone; each batch the last the log holds when it is delivered.
          yield { events: events.filter((e) => e.seq >= from && e.seq <= syncLength), behind: 0 };
          // The aggregator's clock stands still while the changes come, so that they come within one window however slow the machine.
          const now = performance.now();
          const clock = mock.method(performance, 'now', () => now);
          for (const event of events.filter((e) => e.seq >= from && e.seq > syncLength)) yield { events: [event], behind: 0 };
          clock.mock.restore();
          await new Promise((resolve) => signal.addEventListener('abort', resolve));
        },
      },
    });
    const aggregator = open(inQuickSuccession);
    const { deltas, listener } = recorder();
    aggregator.subscribe(listener);
    await aggregator.start();
    assert.ok(await aggregator.waitForSeq(events.length, 5000));
    assert.deepEqual(
      deltas.map(({ delta }) => [delta.from, delta.to]),
      [
        [0, syncLength],
        [syncLength, events.length],
      ],
    );
    // Node's timers count whole milliseconds: one may fire up to 2 ms early.
    assert.ok(deltas[1]!.at - deltas[0]!.at >= VIEW_PACING_MS - 2, `deltas ${deltas[1]!.at - deltas[0]!.at} ms apart`);
    assert.deepEqual(Object.keys(deltas[1]!.delta.services.upsert).sort(), ['prod/svc-1', 'prod/svc-2', 'prod/svc-3', 'prod/svc-4', 'prod/svc-5']);
  });

  it('publishes what a backlog applied when its next batch does not come', async () => {
    const events = stored([...fullSync('east', 1), serviceImport('east', 'prod', 'web', { ips: ['10.0.0.1'] })].map(item));
    const stalled: EventLog = Object.create(log, {
      follow: {
        value: async function* (from: number, signal: AbortSignal): AsyncGenerator<FollowedBatch> {
          yield { events: events.filter((e) => e.seq >= from), behind: 100 }; // more promised, never delivered
          await new Promise((resolve) => signal.addEventListener('abort', resolve));
        },
      },
    });
    const aggregator = open(stalled);
    const { deltas, listener } = recorder();
    aggregator.subscribe(listener);
    const startedAt = performance.now();
    await aggregator.start();
    assert.ok(await aggregator.waitForSeq(events.length, 5000));
    assert.equal(aggregator.lastApplied, events.length);
    assert.equal(deltas.length, 1);
    assert.ok(deltas[0]!.at - startedAt >= VIEW_DEFER_MS - 5, `published ${deltas[0]!.at - startedAt} ms after the start`);
    assert.deepEqual(Object.keys(aggregator.view().services), ['prod/web']);
  });
});
