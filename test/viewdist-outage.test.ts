// The view over NATS while the NATS server is down: followers keep their
// last view and grow stale, the publisher queues, and both converge with the
// source once the server is back.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsViewFeed } from '../shared/viewDistribution.js';
import type { ViewDistributionOptions } from '../shared/viewWire.js';
import { natsServerMissing } from './support/natsServer.js';
import { DrivenFeed, inStep, sampleView, ViewDistHarness, type Recorded } from './viewdist-support.js';

const OPTS: ViewDistributionOptions = { heartbeatMs: 100, snapshotEvery: 100 };

describe('view distribution through a NATS outage', { skip: natsServerMissing() }, () => {
  let nats: ViewDistHarness;
  let source: DrivenFeed;
  let feed: NatsViewFeed;
  let got: Recorded;

  beforeEach(async () => {
    nats = await ViewDistHarness.start();
    source = new DrivenFeed(sampleView(100));
    await nats.publisher(source, OPTS);
    ({ feed, got } = await nats.follower(OPTS));
    source.advance(10);
    await inStep(source, got);
  });
  afterEach(() => nats.stop());

  // Changes during the outage; the follower keeps its view and grows stale meanwhile.
  async function outage(changesMeanwhile: number): Promise<void> {
    const before = structuredClone(got.view);
    const seen = { snapshots: got.snapshots, deltas: got.deltas };
    await nats.server.halt(true);
    await sleep(1000);
    const staleness = feed.stalenessMs!;
    assert.ok(staleness >= 900, `staleness ${staleness} ms after 1 s`);
    source.advance(changesMeanwhile);
    await sleep(1500);
    assert.ok(feed.stalenessMs! >= staleness + 1400, `staleness grew from ${staleness} to ${feed.stalenessMs} ms`);
    assert.deepEqual(got.view, before, 'the follower keeps its last view');
    assert.deepEqual({ snapshots: got.snapshots, deltas: got.deltas }, seen);
    await nats.server.run();
  }

  it('keeps the last view while NATS is down, then catches up in order with what changed meanwhile and after', async () => {
    await outage(30);
    source.advance(10);
    await inStep(source, got, 15_000);
    assert.equal(got.snapshots, 1, 'every change arrived as a delta, in order');
    assert.ok(feed.stalenessMs! < 1000);
  });

  it('when more changes piled up than the publisher keeps, the follower resyncs from a fresh snapshot', async () => {
    await outage(4 * OPTS.snapshotEvery! + 50);
    source.advance(5);
    await inStep(source, got, 15_000);
    assert.equal(got.snapshots, 2);
  });
});
