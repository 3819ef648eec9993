// A follower whose view cannot follow on from the delta stream any more
// (deltas lost, the aggregator started over) loads the snapshot again.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { ViewDistributionOptions } from '../shared/viewWire.js';
import { natsServerMissing } from './support/natsServer.js';
import { capturedLogger, DrivenFeed, inStep, sampleView, ViewDistHarness } from './viewdist-support.js';

const OPTS: ViewDistributionOptions = { heartbeatMs: 100 };

describe('resynchronising from the snapshot', { skip: natsServerMissing() }, () => {
  let nats: ViewDistHarness;
  beforeEach(async () => (nats = await ViewDistHarness.start()));
  afterEach(() => nats.stop());

  // A publisher stopped, changes it never published, a new publisher.
  async function lostDeltas() {
    const source = new DrivenFeed(sampleView(50));
    const first = await nats.publisher(source, OPTS);
    const log = capturedLogger();
    const { got } = await nats.follower(OPTS, log.logger);
    source.advance(10);
    await inStep(source, got);
    await first.stop();
    source.advance(7);
    await nats.publisher(source, OPTS);
    return { source, got, log };
  }

  it('on a gap, loads the newer snapshot and follows on from it', async () => {
    const { source, got, log } = await lostDeltas();
    source.advance(5);
    await inStep(source, got);
    assert.equal(got.snapshots, 2);
    assert.ok(log.messages().includes('gap in the view deltas; checking the snapshot'));
  });

  it('with no delta to show the gap, heartbeats announcing a newer version lead it to the snapshot', async () => {
    const { source, got, log } = await lostDeltas();
    await inStep(source, got, 8000);
    assert.equal(got.snapshots, 2);
    assert.ok(log.messages().includes('out of step with the aggregator; checking the snapshot'));
  });

  it('when the aggregator starts over at a lower version, the follower takes its snapshot', async () => {
    const source = new DrivenFeed(sampleView(50, 1000));
    const first = await nats.publisher(source, OPTS);
    const { got } = await nats.follower(OPTS);
    source.advance(3);
    await inStep(source, got);
    await first.stop();

    const rebuilt = new DrivenFeed(sampleView(30, 1));
    await nats.publisher(rebuilt, OPTS);
    await inStep(rebuilt, got, 8000);
    rebuilt.advance(4);
    await inStep(rebuilt, got);
    assert.equal(got.snapshots, 2);
  });
});
