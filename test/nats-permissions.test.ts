// deploy/nats-permissions.conf, on a real nats-server: an agent publishes only
// its own cluster's subject, a frontend only reads, and the aggregator puts
// aside an event whose cluster does not match its subject.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Aggregator } from '../services/aggregator/aggregator.js';
import { eventId, type ChangeEvent } from '../shared/events.js';
import { JetStreamEventLog } from '../shared/jetstreamEventLog.js';
import { NatsServer, natsServerMissing, samplePasswords, startSecuredNats } from './support/natsServer.js';

const passwords = samplePasswords;

function syncBegin(cluster: string): ChangeEvent {
  return { v: 1, cluster, kind: 'Namespace', op: 'sync-begin', epoch: 1, kinds: ['Namespace'], observedAt: new Date().toISOString() };
}

describe('NATS permissions of deploy/nats-permissions.conf', { skip: natsServerMissing() }, () => {
  let nats: NatsServer;
  const conns: NatsConnection[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'mcsdns-perm-'));
  const as = async (user: string) => {
    const nc = await connect({ servers: nats.url, user, pass: passwords[user]!, maxReconnectAttempts: 0 });
    conns.push(nc);
    return nc;
  };

  before(async () => {
    nats = await startSecuredNats();
    // The aggregator creates the event stream.
    await JetStreamEventLog.open(await as('aggregator'));
  });

  after(async () => {
    for (const nc of conns) await nc.close().catch(() => undefined);
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lets an agent publish its own cluster only', async () => {
    const east = await JetStreamEventLog.open(await as('agent-east'), { manageStream: false });
    const e = syncBegin('east');
    const [ok] = await east.append([{ id: eventId(e), cluster: 'east', payload: JSON.stringify(e) }]);
    assert.ok(ok && ok.seq > 0);
    const w = syncBegin('west');
    await assert.rejects(east.append([{ id: eventId(w), cluster: 'west', payload: JSON.stringify(w) }]), /permission/i);
    await assert.rejects(jetstream(await as('agent-east')).publish('mcsdns.events.west', '{}', { timeout: 2000 }), /permission/i);
  });

  it('lets a frontend publish no event and no view', async () => {
    const js = jetstream(await as('frontend'));
    await assert.rejects(js.publish('mcsdns.events.east', '{}', { timeout: 2000 }), /permission/i);
    await assert.rejects(js.publish('mcsdns.view.delta', '{}', { timeout: 2000 }), /permission/i);
  });

  it('puts aside an event whose cluster is not its subject, and goes on', async () => {
    const east = await JetStreamEventLog.open(await as('agent-east'), { manageStream: false });
    const forged = syncBegin('west'); // claims west, published on east's subject
    const honest = { ...syncBegin('east'), epoch: 2 };
    await east.append([
      { id: 'forged-1', cluster: 'east', payload: JSON.stringify(forged) },
      { id: eventId(honest), cluster: 'east', payload: JSON.stringify(honest) },
    ]);
    const log = await JetStreamEventLog.open(await as('aggregator'), { manageStream: false });
    const aggregator = Aggregator.open({ log, dbPath: join(dir, 'rm.db') });
    await aggregator.start();
    try {
      assert.ok(await aggregator.waitForSeq(await log.lastSeq(), 10000));
      assert.equal(aggregator.rejectedEvents, 1);
      assert.deepEqual(aggregator.view().clusters.map((c) => c.id), ['east']);
    } finally {
      await aggregator.stop();
    }
  });
});
