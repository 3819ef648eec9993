// What the view publisher leaves in NATS: deltas stored once each, in order;
// one snapshot object, replaced soon after a change; heartbeats.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { NatsViewPublisher } from '../shared/viewDistribution.js';
import { silentLogger } from '../shared/logger.js';
import { parseDeltaMessage, parseHeartbeat } from '../shared/viewWire.js';
import type { ViewDelta } from '../shared/view.js';
import { natsServerMissing } from './support/natsServer.js';
import { DrivenFeed, eventually, inStep, sampleView, ViewDistHarness } from './viewdist-support.js';

describe('publishing the view to NATS', { skip: natsServerMissing() }, () => {
  let nats: ViewDistHarness;
  let jsm: JetStreamManager;
  let snapshots: () => Promise<ObjectStore>;

  async function startNats(config?: string): Promise<void> {
    nats = await ViewDistHarness.start(config);
    const admin = await nats.connection('admin');
    jsm = await jetstreamManager(admin);
    snapshots = () => new Objm(jetstream(admin)).open('mcsdns-snapshots');
  }
  beforeEach(() => startNats());
  afterEach(() => nats.stop());

  async function snapshotVersion(): Promise<number | undefined> {
    const info = await (await snapshots()).info('view');
    return info ? Number(info.metadata?.version) : undefined;
  }

  // Where the newest stored delta (or part of one) goes.
  async function lastStoredTo(): Promise<number> {
    const message = parseDeltaMessage((await jsm.streams.getMessage('MCSDNS_VIEW', { last_by_subj: 'mcsdns.view.delta' }))!.data)!;
    return 'part' in message ? message.part.to : message.to;
  }

  // The stored deltas, oldest first, once the newest reaches `version`.
  async function storedDeltas(version: number) {
    const lastTo = async () => {
      const { messages } = (await jsm.streams.info('MCSDNS_VIEW')).state;
      return messages > 0 ? lastStoredTo() : undefined;
    };
    await eventually(`deltas up to version ${version} stored`, async () => (await lastTo()) === version);
    const { messages } = (await jsm.streams.info('MCSDNS_VIEW')).state;
    return Promise.all(Array.from({ length: messages }, (_, i) => jsm.streams.getMessage('MCSDNS_VIEW', { seq: i + 1 })));
  }

  it('stores deltas that follow on from each other, in order, each under its deduplication id', async () => {
    const source = new DrivenFeed(sampleView(50));
    await nats.publisher(source, { heartbeatMs: 100 });
    source.advance(20);
    let version = sampleView(0).version;
    for (const m of await storedDeltas(source.view.version)) {
      const delta = parseDeltaMessage(m!.data) as ViewDelta;
      assert.equal(delta.from, version);
      assert.equal(m!.header.get('Nats-Msg-Id'), `delta-${delta.to}`);
      version = delta.to;
    }
    assert.equal(version, source.view.version);
  });

  it('merges the deltas queued while it publishes, carrying every observation time', async () => {
    const source = new DrivenFeed(sampleView(50));
    await nats.publisher(source, { heartbeatMs: 100, snapshotEvery: 10_000 });
    source.advance(2000);
    const stored = (await storedDeltas(source.view.version)).map((m) => parseDeltaMessage(m!.data) as ViewDelta);
    assert.ok(stored.length < 2000 / 4, `${stored.length} messages for 2,000 deltas`);
    assert.equal(stored.reduce((n, d) => n + (d.observedAt?.length ?? 0), 0), 2000);
  });

  // A follower loading the snapshot skips the deltas it holds and follows on
  // from its version; a delta reaching past it from before would be a gap.
  it('merges no deltas across the version of a snapshot, so that its followers follow on', async () => {
    const source = new DrivenFeed(sampleView(50));
    const admin = await nats.connection('admin');
    const heartbeat = new Promise((resolve) => admin.subscribe('mcsdns.view.heartbeat', { max: 1, callback: resolve }));
    await nats.publisher(source, { heartbeatMs: 100, snapshotEvery: 1000 });
    await heartbeat; // the first snapshot is done: the publisher waits for work
    source.advance(1000); // a snapshot is due, of this version, while these deltas queue
    const snapshotAt = source.view.version;
    await new Promise(setImmediate);
    source.advance(500);
    const spans = (await storedDeltas(source.view.version)).map((m) => {
      const message = parseDeltaMessage(m!.data)!;
      const { from, to } = 'part' in message ? message.part : message;
      return [from, to] as const;
    });
    assert.equal(await snapshotVersion(), snapshotAt);
    assert.deepEqual(spans.filter(([from, to]) => from < snapshotAt && to > snapshotAt), []);
    const { got } = await nats.follower({ heartbeatMs: 100 });
    await inStep(source, got);
  });

  it('publishes a delta too big for one NATS message in parts, which a follower applies as one', async () => {
    await nats.stop();
    await startNats('max_payload: 65536');
    const source = new DrivenFeed(sampleView(50));
    await nats.publisher(source, { heartbeatMs: 100, snapshotIntervalMs: 60_000 });
    const { got } = await nats.follower({ heartbeatMs: 100 });
    await inStep(source, got);
    const deltasBefore = got.deltas;
    const version = source.view.version;
    source.send({ from: version, to: version + 1, services: { upsert: sampleView(3000, 7).services, remove: ['ns-1/svc-1'] }, observedAt: [Date.now()] });
    await inStep(source, got);
    assert.equal(got.snapshots, 1, 'no snapshot loaded');
    assert.equal(got.deltas, deltasBefore + 1, 'one delta given to the listener');
    const parts = (await storedDeltas(source.view.version)).map((m) => m!);
    assert.ok(parts.length > 3, `${parts.length} parts`);
    assert.deepEqual(
      parts.map((m) => m.header.get('Nats-Msg-Id')),
      parts.map((_, i) => `delta-${version + 1}-part-${i}`),
    );
    assert.ok(parts.every((m) => m.data.length <= 65536));
    assert.equal(await snapshotVersion(), version, 'no snapshot published for it');
  });

  it('publishes a snapshot in place of a delta holding a service too big for one NATS message', async () => {
    await nats.stop();
    await startNats('max_payload: 65536');
    const source = new DrivenFeed(sampleView(50));
    await nats.publisher(source, { heartbeatMs: 100, snapshotIntervalMs: 60_000 });
    await eventually('the first snapshot', async () => (await snapshotVersion()) === source.view.version);
    const version = source.view.version;
    const huge = { names: { 'big.ns-1.svc': Array.from({ length: 5000 }, (_, i) => ({ type: 'A' as const, address: `10.1.${i >> 8}.${i & 255}` })) } };
    source.send({ from: version, to: version + 1, services: { upsert: { 'ns-1/big': huge }, remove: [] } });
    await eventually('a snapshot of the big change', async () => (await snapshotVersion()) === source.view.version);
    assert.equal((await jsm.streams.info('MCSDNS_VIEW')).state.messages, 0);
  });

  it('replaces the snapshot within snapshotIntervalMs of a change, keeping one object only', async () => {
    const source = new DrivenFeed(sampleView(10_000)); // a snapshot of several 128 KiB chunks
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

  // A frontend told of a version that its deltas have not reached would load the snapshot.
  it('heartbeats never announce a snapshot ahead of the stored deltas', async () => {
    const source = new DrivenFeed(sampleView(10));
    await nats.publisher(source, { heartbeatMs: 5, snapshotEvery: 1000 });
    await eventually('the first snapshot', async () => (await snapshotVersion()) === source.view.version);
    const admin = await nats.connection('admin');
    const checks: Promise<void>[] = [];
    let checked = source.view.version;
    // Each version checked once, as first heard: the deltas stored only grow.
    const heartbeats = admin.subscribe('mcsdns.view.heartbeat', {
      callback: (_err, msg) => {
        const heard = parseHeartbeat(msg.string())!.version;
        if (heard <= checked) return;
        checked = heard;
        checks.push(lastStoredTo().then((to) => assert.ok(to >= heard, `heard ${heard} with deltas stored up to ${to}`)));
      },
    });
    source.advance(3000); // a snapshot is due after 1,000, of the view with all 3,000
    await eventually('a snapshot ahead of the first deltas', async () => (await snapshotVersion()) === source.view.version);
    await eventually('a heartbeat of the newest version', () => checked === source.view.version);
    // No check may start after these are awaited: it would fail unseen, or on the closed connection after the test.
    heartbeats.unsubscribe();
    await Promise.all(checks);
  });

  it('start() fails with a clear message when NATS refuses to set up the stream', async () => {
    const frontend = await nats.connection('frontend'); // may not create streams
    await assert.rejects(
      NatsViewPublisher.start(frontend, new DrivenFeed(sampleView(1)), {}, silentLogger),
      /setting up view distribution \(stream MCSDNS_VIEW, bucket mcsdns-snapshots\) failed: /,
    );
  });
});
