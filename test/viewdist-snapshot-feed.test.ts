// What a frontend's view feed does with the snapshot object it finds in the
// bucket: format 1 (an older aggregator's) it loads; a format it cannot read
// or corrupt bytes it refuses with one clear log line, keeping its view; a
// listener that builds its own view from a snapshot gets it part by part.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { gzip as gzipCallback, gunzipSync } from 'node:zlib';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import type { DnsView, ViewDelta } from '../shared/view.js';
import { dnsViewBuilder } from '../shared/viewBuilder.js';
import { NatsViewFeed } from '../shared/natsViewFeed.js';
import { encodeSnapshot, snapshotMetadata, type ViewDistributionOptions } from '../shared/viewWire.js';
import { natsServerMissing } from './support/natsServer.js';
import { capturedLogger, DrivenFeed, eventually, inStep, sampleView, ViewDistHarness } from './viewdist-support.js';

const OPTS: ViewDistributionOptions = { heartbeatMs: 100 };
const REJECTED = 'view snapshot rejected; keeping the view, if any';
const gzip = promisify(gzipCallback);

describe('the snapshot a frontend finds', { skip: natsServerMissing() }, () => {
  let nats: ViewDistHarness;
  let admin: NatsConnection;
  beforeEach(async () => {
    nats = await ViewDistHarness.start();
    admin = await nats.connection('admin');
  });
  afterEach(() => nats.stop());

  // The stream and bucket as an aggregator left them, holding `view`; the aggregator gone.
  async function aggregatorGone(view: DnsView): Promise<void> {
    const publisher = await nats.publisher(new DrivenFeed(structuredClone(view)), OPTS);
    await eventually('the snapshot is stored', async () => (await bucket().then((b) => b.info('view')))?.metadata?.version === String(view.version));
    await publisher.stop();
  }

  const bucket = () => new Objm(jetstream(admin)).open('mcsdns-snapshots');

  // Replaces the snapshot object with `data`, said to hold `version`.
  async function putSnapshot(data: Uint8Array, version: number): Promise<void> {
    const deltaSeq = (await (await jetstreamManager(admin)).streams.info('MCSDNS_VIEW')).state.last_seq;
    await (await bucket()).putBlob({ name: 'view', metadata: snapshotMetadata({ version, deltaSeq }) }, data);
  }

  // A delta that does not follow on from `version`: the follower checks the snapshot.
  async function gapAfter(version: number): Promise<void> {
    const delta: ViewDelta = { from: version + 1, to: version + 2, services: { upsert: {}, remove: [] } };
    await jetstream(admin).publish('mcsdns.view.delta', JSON.stringify(delta));
  }

  const rejections = (log: ReturnType<typeof capturedLogger>) => log.records().filter((r) => r.msg === REJECTED).map((r) => String(r.reason));

  it('loads a format 1 snapshot (gzipped JSON) and follows on from it', async () => {
    const view = sampleView(30, 10);
    await aggregatorGone(view);
    const older = { ...sampleView(40, 50), views: { east: { 'ns-1/svc-1': null } } };
    await putSnapshot(await gzip(JSON.stringify(older)), 50);
    const { got } = await nats.follower(OPTS);
    await eventually('the follower loads the format 1 snapshot', () => got.view?.version === 50);
    assert.deepEqual(got.view, older);

    const source = new DrivenFeed(structuredClone(older));
    await nats.publisher(source, OPTS);
    source.advance(5);
    await inStep(source, got);
  });

  it('refuses a format it cannot read, saying which, and loads the next snapshot it can', async () => {
    await aggregatorGone(sampleView(5, 1));
    const newer = gunzipSync(await encodeSnapshot(sampleView(5, 7)));
    newer[4] = 9;
    await putSnapshot(await gzip(newer), 7);
    const log = capturedLogger();
    const { got } = await nats.follower(OPTS, log.logger);
    await eventually('the follower refuses the snapshot', () => rejections(log).length > 0);
    assert.match(rejections(log)[0]!, /format 9 is not one this version reads \(1 and 2\); a newer aggregator wrote it/);
    assert.equal(got.snapshots, 0);

    const readable = sampleView(5, 8);
    await putSnapshot(await encodeSnapshot(readable), 8);
    await eventually('the follower loads the next snapshot', () => got.view?.version === 8, 8000);
    assert.deepEqual(got.view, readable);
  });

  it('hands the snapshot to a listener that builds from it as it is read, and a corrupt one to nobody', async () => {
    const source = new DrivenFeed(sampleView(20, 100));
    await aggregatorGone(source.view);
    const log = capturedLogger();
    const feed = await NatsViewFeed.start(await nats.connection('frontend'), OPTS, log.logger);
    const built: DnsView[] = [];
    let whole = 0;
    feed.subscribe({ snapshot: () => whole++, delta: () => undefined, snapshotBuilder: () => dnsViewBuilder((view) => built.push(view)) });
    try {
      await eventually('the listener built the view', () => built.length === 1);
      assert.deepEqual(built[0], source.view);

      const good = gunzipSync(await encodeSnapshot(sampleView(20, 200)));
      await putSnapshot(await gzip(good.subarray(0, good.length - 3)), 200);
      await gapAfter(100);
      await eventually('the feed refuses the snapshot', () => rejections(log).length > 0);
      assert.match(rejections(log)[0]!, /malformed at byte/);
      assert.equal(built.length, 1, 'a snapshot that turned out corrupt was never done');
      assert.equal(whole, 0, 'a listener that builds gets no whole views');
      assert.equal(feed.version, 100);
    } finally {
      await feed.stop();
    }
  });

  it('keeps its view when the newer snapshot is corrupt or not what its metadata says', async () => {
    const source = new DrivenFeed(sampleView(20, 100));
    await aggregatorGone(source.view);
    const log = capturedLogger();
    const { got } = await nats.follower(OPTS, log.logger);
    await inStep(source, got);

    const good = await encodeSnapshot(sampleView(20, 200));
    const corrupt = Buffer.from(good);
    const middle = corrupt.length >> 1;
    corrupt[middle] = corrupt[middle]! ^ 0xff;
    const bad: [Uint8Array, number, RegExp][] = [
      [corrupt, 200, /revision \d+: the view snapshot does not gunzip/],
      [await gzip(gunzipSync(good).subarray(0, 500)), 200, /revision \d+: the view snapshot is malformed at byte \d+/],
      [good, 300, /it holds version 200, its metadata says 300/],
    ];
    for (const [data, version, reason] of bad) {
      const before = rejections(log).length;
      await putSnapshot(data, version);
      await gapAfter(source.view.version);
      await eventually(`the follower refuses ${reason}`, () => rejections(log).length > before);
      assert.match(rejections(log).at(-1)!, reason);
      assert.equal(got.snapshots, 1);
      assert.deepEqual(got.view, source.view);
    }
  });
});
