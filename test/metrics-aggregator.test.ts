// The aggregator's metrics and readiness over a real embedded log: applied
// and rejected events, the last applied sequence, the lag behind the log,
// the number of services, and the observation times its deltas carry.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { EventLog, FollowedBatch } from '../shared/eventLog.js';
import type { ChangeEvent } from '../shared/events.js';
import { aggregatorMetrics, createRegistry, type Registry } from '../shared/metrics.js';
import { SqliteEventLog } from '../shared/sqliteEventLog.js';
import type { ViewDelta } from '../shared/view.js';
import { Aggregator } from '../services/aggregator/aggregator.js';
import { deleted, fullSync, item, serviceImport, tempDir } from './aggregator-events.js';
import { sampleValue } from './metrics-samples.js';

// The embedded log, but following only once opened, and with a lastSeq that can be made to fail.
class GatedLog implements EventLog {
  lastSeqFails = false;
  private open!: () => void;
  private readonly opened = new Promise<void>((resolve) => (this.open = resolve));
  constructor(private readonly inner: SqliteEventLog) {}
  openGate(): void {
    this.open();
  }
  append = (items: Parameters<EventLog['append']>[0]) => this.inner.append(items);
  read = (fromSeq: number, limit: number) => this.inner.read(fromSeq, limit);
  seqAtTime = (time: Date) => this.inner.seqAtTime(time);
  close = () => this.inner.close();
  async lastSeq(): Promise<number> {
    if (this.lastSeqFails) throw new Error('stream not found');
    return this.inner.lastSeq();
  }
  async *follow(fromSeq: number, signal: AbortSignal): AsyncGenerator<FollowedBatch> {
    await Promise.race([this.opened, new Promise((resolve) => signal.addEventListener('abort', resolve))]);
    if (!signal.aborted) yield* this.inner.follow(fromSeq, signal);
  }
}

const withObservedAt = (e: ChangeEvent, ms: number): ChangeEvent => ({ ...e, observedAt: new Date(ms).toISOString() });

describe('aggregator metrics', () => {
  let temp: ReturnType<typeof tempDir>;
  let inner: SqliteEventLog;
  let log: GatedLog;
  let registry: Registry;
  let aggregator: Aggregator;

  beforeEach(() => {
    temp = tempDir();
    inner = SqliteEventLog.open(join(temp.dir, 'events.db'));
    log = new GatedLog(inner);
    registry = createRegistry();
    aggregator = Aggregator.open({ log, dbPath: join(temp.dir, 'readmodel.db'), expectedClusters: ['east', 'west'], metrics: aggregatorMetrics(registry) });
  });
  afterEach(async () => {
    await aggregator.stop();
    await log.close();
    temp.remove();
  });

  const metric = async (name: string) => sampleValue(await registry.metrics(), `mcsdns_aggregator_${name}`);

  async function append(...events: ChangeEvent[]): Promise<number> {
    const results = await log.append(events.map(item));
    return results[results.length - 1]!.seq;
  }

  it('counts applied and rejected events and follows the last applied sequence and the services', async () => {
    log.openGate();
    await aggregator.start();
    await append(...fullSync('east', 1), serviceImport('east', 'prod', 'web', { ips: ['10.0.0.1'] }), serviceImport('east', 'prod', 'db', { ips: ['10.0.0.2'] }));
    const garbage = [
      { id: 'garbage', cluster: 'east', payload: 'not json at all' },
      { ...item(serviceImport('west', 'prod', 'api', { ips: ['10.9.9.9'] })), cluster: 'east' },
    ];
    await log.append(garbage);
    const last = await append(deleted('east', 'ServiceImport', 'prod', 'db'));
    assert.ok(await aggregator.waitForSeq(last, 5000));
    assert.equal(await metric('events_applied_total'), 6 + 2 + 1);
    assert.equal(await metric('events_rejected_total'), 2);
    assert.equal(await metric('last_applied_seq'), last);
    assert.equal(await metric('view_services'), 1);
    assert.equal(await metric('log_lag_events'), 0);
  });

  it('starts from the services and last sequence of an existing read model', async () => {
    log.openGate();
    await aggregator.start();
    const last = await append(
      serviceImport('east', 'prod', 'web', { ips: ['10.0.0.1'] }),
      serviceImport('west', 'prod', 'web', { ips: ['10.0.0.3'] }),
      serviceImport('east', 'dev', 'web', { ips: ['10.0.0.2'] }),
    );
    assert.ok(await aggregator.waitForSeq(last, 5000));
    await aggregator.stop();
    registry = createRegistry();
    aggregator = Aggregator.open({ log, dbPath: join(temp.dir, 'readmodel.db'), metrics: aggregatorMetrics(registry) });
    await aggregator.start();
    assert.equal(await metric('view_services'), 2);
    assert.equal(await metric('last_applied_seq'), last);
    assert.equal(await metric('events_applied_total'), 0, 'counts what this process applied');
  });

  it('measures the lag behind the log at start and on every scrape, and is ready only when small', async () => {
    await append(...fullSync('east', 1), ...fullSync('west', 1));
    await aggregator.start(); // the gate holds the log back: nothing applied yet
    assert.equal(aggregator.lagEvents, 12);
    assert.equal(await metric('log_lag_events'), 12);
    assert.deepEqual(aggregator.readiness(), { ok: false, reason: 'clusters not synced yet: east, west' });

    log.openGate();
    assert.ok(await aggregator.waitForSeq(12, 5000));
    assert.equal(await metric('log_lag_events'), 0, 'a scrape measures the lag afresh');
    assert.equal(aggregator.lagEvents, 0);
    assert.deepEqual(aggregator.readiness(), { ok: true });

    const last = await append(...Array.from({ length: 5 }, (_, i) => serviceImport('east', 'prod', `s${i}`, { ips: ['10.0.0.1'] })));
    assert.ok(await aggregator.waitForSeq(last, 5000));
    log.lastSeqFails = true;
    await metric('log_lag_events');
    assert.equal(aggregator.lagEvents, undefined);
    assert.deepEqual(aggregator.readiness(), { ok: false, reason: 'cannot measure the lag behind the event log: stream not found' });
  });

  it('is not ready while further behind the log than allowed', async () => {
    log.openGate();
    await aggregator.start();
    assert.ok(await aggregator.waitForSeq(await append(...fullSync('east', 1), ...fullSync('west', 1)), 5000));
    await aggregator.stop();
    await append(serviceImport('east', 'prod', 'a'), serviceImport('east', 'prod', 'b'), serviceImport('east', 'prod', 'c'));
    // Restarted over a log that holds back what it has: three events behind.
    aggregator = Aggregator.open({ log: new GatedLog(inner), dbPath: join(temp.dir, 'readmodel.db'), expectedClusters: ['east', 'west'] });
    await aggregator.start();
    assert.deepEqual(aggregator.readiness(2), { ok: false, reason: '3 events behind the event log (more than 2)' });
    assert.deepEqual(aggregator.readiness(3), { ok: true });
  });

  it('says when it has not started or has stopped', async () => {
    assert.deepEqual(aggregator.readiness(), { ok: false, reason: 'aggregator not started' });
    log.openGate();
    await aggregator.start();
    await aggregator.stop();
    assert.deepEqual(aggregator.readiness(), { ok: false, reason: 'aggregator stopped' });
  });

  it("puts each applied event's observation time on the delta that applies it", async () => {
    log.openGate();
    await aggregator.start();
    const deltas: ViewDelta[] = [];
    aggregator.subscribe({ snapshot: () => undefined, delta: (d) => deltas.push(d) });
    const t0 = Date.parse('2025-06-01T12:00:00.000Z');
    await log.append([
      item(withObservedAt(serviceImport('east', 'prod', 'web', { ips: ['10.0.0.1'] }), t0)),
      { id: 'garbage', cluster: 'east', payload: '{}' },
      item(withObservedAt(serviceImport('east', 'prod', 'db', { ips: ['10.0.0.2'] }), t0 + 7)),
    ]);
    assert.ok(await aggregator.waitForSeq(3, 5000));
    assert.deepEqual(deltas.flatMap((d) => d.observedAt ?? []), [t0, t0 + 7], 'one time per applied event, none for the rejected one');
  });
});
