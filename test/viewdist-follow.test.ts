// The view over real NATS: a publisher fed by a driven feed, frontends'
// NatsViewFeeds following it with read-only permissions, and what they do
// with garbage in the delta stream.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstreamManager } from '@nats-io/jetstream';
import { deltaMessages, type ViewDistributionOptions } from '../shared/viewWire.js';
import { natsServerMissing } from './support/natsServer.js';
import { capturedLogger, DrivenFeed, eventually, inStep, recorder, sampleView, ViewDistHarness } from './viewdist-support.js';

const OPTS: ViewDistributionOptions = { heartbeatMs: 100 };

describe('following the view over NATS', { skip: natsServerMissing() }, () => {
  let nats: ViewDistHarness;
  beforeEach(async () => (nats = await ViewDistHarness.start()));
  afterEach(() => nats.stop());

  // A publisher of a 50-service view, a follower in step with it after
  // `advance` deltas, and `inject`: publishes messages to the delta stream by
  // hand (stored before the next delta), then moves the source on and waits
  // for the follower to catch up.
  async function garbageTest(advance: number) {
    const source = new DrivenFeed(sampleView(50));
    await nats.publisher(source, OPTS);
    const log = capturedLogger();
    const { got } = await nats.follower(OPTS, log.logger);
    source.advance(advance);
    await inStep(source, got);
    const admin = await nats.connection('admin');
    const inject = async (...messages: (string | Uint8Array)[]) => {
      for (const m of messages) admin.publish('mcsdns.view.delta', m);
      await admin.flush();
      source.advance(advance);
      await inStep(source, got);
    };
    return { source, got, log, inject };
  }

  it('delivers the snapshot, then every delta in order, and ends equal to the source', async () => {
    const source = new DrivenFeed(sampleView(200));
    await nats.publisher(source, OPTS);
    const { feed, got } = await nats.follower(OPTS);
    await inStep(source, got);
    assert.equal(got.snapshots, 1);

    source.advance(50);
    await inStep(source, got);
    // Deltas queued while one is published go out merged: at most 50, each following on.
    assert.equal(got.snapshots, 1);
    assert.ok(got.deltas >= 1 && got.deltas <= 50, `${got.deltas} deltas`);
    assert.deepEqual(got.misfits, []);
    assert.equal(feed.version, source.view.version);
    await eventually('a heartbeat announces the newest version', () => feed.aggregatorVersion === source.view.version);
    assert.ok(feed.stalenessMs! < 1000, `staleness ${feed.stalenessMs} ms`);

    // A listener subscribing late starts from the current view: the feed
    // loads the snapshot again for it; the first listener keeps its view.
    const late = recorder();
    feed.subscribe(late.listener);
    await inStep(source, late.got);
    source.advance(5);
    await inStep(source, late.got);
    await inStep(source, got);
    assert.equal(got.snapshots, 1);
  });

  it('applies deltas that change only the cluster list at the same version, each of them', async () => {
    const source = new DrivenFeed(sampleView(20));
    await nats.publisher(source, OPTS);
    const { feed, got } = await nats.follower(OPTS);
    await inStep(source, got);
    source.setClusters([{ id: 'east', synced: true }, { id: 'west', synced: false }]);
    await eventually('first cluster list', () => JSON.stringify(got.view?.clusters) === JSON.stringify(source.view.clusters));
    source.setClusters([{ id: 'east', synced: true }, { id: 'west', synced: true }]);
    await eventually('second cluster list', () => JSON.stringify(got.view?.clusters) === JSON.stringify(source.view.clusters));
    assert.equal(feed.version, source.view.version);
    assert.equal(got.snapshots, 1);
  });

  it('a follower started after 5,000 deltas loads the newest snapshot and follows on from it', async () => {
    const source = new DrivenFeed(sampleView(100));
    await nats.publisher(source, { ...OPTS, snapshotEvery: 1000 });
    const first = await nats.follower(OPTS);
    await inStep(source, first.got);
    const startVersion = source.view.version;
    for (let burst = 0; burst < 5; burst++) {
      source.advance(1000);
      await inStep(source, first.got);
    }
    assert.equal(first.got.snapshots, 1);
    assert.deepEqual(first.got.misfits, []);
    source.advance(10);

    const log = capturedLogger();
    const late = await nats.follower(OPTS, log.logger);
    await inStep(source, late.got);
    assert.equal(late.got.snapshots, 1);
    assert.ok(late.got.deltas <= 10, `${late.got.deltas} deltas applied`);
    // A snapshot came with every 1,000 deltas: the late follower's is at least 4,000 deltas in.
    const loaded = log.records().find((r) => r.msg === 'view snapshot loaded');
    assert.ok(Number(loaded?.version) >= startVersion + 4000, `snapshot taken at version ${String(loaded?.version)}`);
  });

  it('a delta with the wrong `from` is not applied; the follower checks the snapshot and stays correct', async () => {
    const { source, got, log, inject } = await garbageTest(20);
    const v = source.view.version;
    await inject(JSON.stringify({ from: v + 5, to: v + 6, services: { upsert: {}, remove: ['ns-1/svc-1'] } }));
    assert.ok(log.messages().includes('gap in the view deltas; checking the snapshot'));
    assert.equal(got.snapshots, 1, 'the snapshot, older than the view, was not delivered again');
  });

  it('a part of a delta without the parts before it: skipped when the view holds the delta, else the snapshot is checked', async () => {
    const { source, got, log, inject } = await garbageTest(5);
    const v = source.view.version;
    // The second of the parts of a delta of 2,000 services.
    const part = (from: number, to: number) => deltaMessages({ from, to, services: { upsert: sampleView(2000, 3).services, remove: [] } }, 65536)![1]!;
    await inject(part(v - 1, v)); // as after a snapshot taken amid a delta's parts
    assert.deepEqual(log.messages().filter((m) => m.includes('part')), []);

    await inject(part(source.view.version, source.view.version + 1));
    assert.ok(log.messages().includes('a part of a view delta without the parts before it; checking the snapshot'));
    assert.equal(got.snapshots, 1);
  });

  it('a garbled delta is skipped and the follower stays correct', async () => {
    const { source, got, log, inject } = await garbageTest(5);
    const v = source.view.version;
    await inject(new Uint8Array([0xff, 0x00, 0x7b, 0x22, 0xfe]), JSON.stringify({ from: v, to: v + 1, services: { upsert: { x: 1 } } }));
    assert.equal(log.messages().filter((m) => m === 'view delta does not parse; skipping it, checking the snapshot').length, 2);
    assert.equal(got.snapshots, 1);
    assert.deepEqual(got.misfits, []);
  });

  it('stop() leaves nothing running', async () => {
    const source = new DrivenFeed(sampleView(20));
    const publisher = await nats.publisher(source, OPTS);
    const { feed, got } = await nats.follower(OPTS);
    source.advance(3);
    await inStep(source, got);

    await feed.stop();
    await publisher.stop();
    assert.equal(source.listenerCount, 0);
    const admin = await nats.connection('admin');
    const jsm = await jetstreamManager(admin);
    assert.equal((await jsm.streams.info('MCSDNS_VIEW')).state.consumer_count, 0, 'the follower deleted its consumer');

    let heartbeats = 0;
    admin.subscribe('mcsdns.view.heartbeat', {
      callback: () => {
        heartbeats++;
      },
    });
    const v = source.view.version;
    admin.publish('mcsdns.view.delta', JSON.stringify({ from: v, to: v + 1, services: { upsert: {}, remove: [] } }));
    await sleep(400);
    assert.equal(heartbeats, 0, 'no heartbeats after stop');
    assert.equal(got.view!.version, v, 'no delta delivered after stop');
    assert.equal(feed.version, v);
  });
});
