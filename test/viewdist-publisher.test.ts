// What the view publisher leaves in NATS: deltas stored once each, in order;
// one snapshot object, replaced soon after a change; heartbeats.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { NatsViewPublisher } from '../shared/viewDistribution.js';
import { silentLogger } from '../shared/logger.js';
import { parseDelta, parseHeartbeat } from '../shared/viewWire.js';
import { natsServerMissing } from './support/natsServer.js';
import { DrivenFeed, eventually, sampleView, ViewDistHarness } from './viewdist-support.js';

describe('publishing the view to NATS', { skip: natsServerMissing() }, () => {
  let nats: ViewDistHarness;
  let jsm: JetStreamManager;
  let snapshots: () => Promise<ObjectStore>;

  beforeEach(async () => {
    nats = await ViewDistHarness.start();
    const admin = await nats.connection('admin');
    jsm = await jetstreamManager(admin);
    snapshots = () => new Objm(jetstream(admin)).open('mcsdns-snapshots');
  });
  afterEach(() => nats.stop());

  async function snapshotVersion(): Promise<number | undefined> {
    const info = await (await snapshots()).info('view');
    return info ? Number(info.metadata?.version) : undefined;
  }

  it('stores every delta once, in order, under its deduplication id', async () => {
    const source = new DrivenFeed(sampleView(50));
    await nats.publisher(source, { heartbeatMs: 100 });
    source.advance(20);
    await eventually('20 deltas stored', async () => (await jsm.streams.info('MCSDNS_VIEW')).state.messages === 20);
    const stored = await Promise.all(Array.from({ length: 20 }, (_, i) => jsm.streams.getMessage('MCSDNS_VIEW', { seq: i + 1 })));
    let version = sampleView(0).version;
    for (const m of stored) {
      const delta = parseDelta(m!.string())!;
      assert.equal(delta.from, version);
      assert.equal(m!.header.get('Nats-Msg-Id'), `delta-${delta.to}`);
      version = delta.to;
    }
    assert.equal(version, source.view.version);
  });

  it('replaces the snapshot within snapshotIntervalMs of a change, keeping one object only', async () => {
    const source = new DrivenFeed(sampleView(3000)); // a snapshot of several chunks
    await nats.publisher(source, { snapshotIntervalMs: 300 });
    await eventually('the first snapshot', async () => (await snapshotVersion()) === source.view.version);
    for (let round = 0; round < 3; round++) {
      source.advance(2);
      const changedAt = Date.now();
      await eventually(`snapshot ${round + 2}`, async () => (await snapshotVersion()) === source.view.version, 5000);
      assert.ok(Date.now() - changedAt < 2000, `snapshot after ${Date.now() - changedAt} ms`);
      const info = (await (await snapshots()).info('view'))!;
      assert.ok(info.chunks > 1);
      const stream = await jsm.streams.info('OBJ_mcsdns-snapshots');
      assert.equal(stream.state.messages, info.chunks + 1, 'the newest object’s chunks and its metadata, nothing older');
    }
  });

  it('heartbeats announce the newest version in NATS', async () => {
    const source = new DrivenFeed(sampleView(10));
    await nats.publisher(source, { heartbeatMs: 50 });
    const admin = await nats.connection('admin');
    const heard: number[] = [];
    admin.subscribe('mcsdns.view.heartbeat', {
      callback: (_err, msg) => {
        heard.push(parseHeartbeat(msg.string())!.version);
      },
    });
    source.advance(3);
    await eventually('a heartbeat with the newest version', () => heard.includes(source.view.version));
    assert.deepEqual([...heard].sort((a, b) => a - b), heard, 'never announcing an older version');
  });

  it('start() fails with a clear message when NATS refuses to set up the stream', async () => {
    const frontend = await nats.connection('frontend'); // may not create streams
    await assert.rejects(
      NatsViewPublisher.start(frontend, new DrivenFeed(sampleView(1)), {}, silentLogger),
      /setting up view distribution \(stream MCSDNS_VIEW, bucket mcsdns-snapshots\) failed: /,
    );
  });
});
