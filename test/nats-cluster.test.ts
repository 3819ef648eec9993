// The JetStream event log on a three-node NATS cluster: scaling the stream's
// replicas, and losing a node in the middle of a burst of appends.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import type { StoredEvent } from '../shared/eventLog.js';
import { JetStreamEventLog, streamName } from '../shared/jetstreamEventLog.js';
import { silentLogger } from '../shared/logger.js';
import { connectNats } from '../shared/nats.js';
import { natsServerMissing, startNatsCluster, type NatsServer } from './support/natsServer.js';

const missing = natsServerMissing();
const EVENTS = 3000;
const BATCH = 10;

describe('JetStreamEventLog on a three-node cluster', { skip: missing }, () => {
  let nodes: NatsServer[] = [];
  let nc: NatsConnection;

  before(async () => {
    nodes = await startNatsCluster(3);
    nc = await connectNats({ servers: nodes.map((n) => n.url), name: 'cluster-test' }, silentLogger);
  });
  after(async () => {
    await nc?.close();
    for (const node of nodes) await node.stop();
  });

  it('scales an existing stream to the configured replicas, and says in one line when it cannot', async () => {
    const prefix = 'scale';
    const single = await JetStreamEventLog.open(nc, { prefix, replicas: 1 });
    await single.append([{ id: 'a', cluster: 'east', payload: '{}' }]);
    await single.close();
    const replicated = await JetStreamEventLog.open(nc, { prefix, replicas: 3 });
    const jsm = await jetstreamManager(nc);
    const { config, state } = await jsm.streams.info(streamName(prefix, 'events'));
    assert.equal(config.num_replicas, 3);
    assert.equal(state.messages, 1);
    await replicated.close();
    await assert.rejects(JetStreamEventLog.open(nc, { prefix, replicas: 5 }), {
      message: /^cannot update stream SCALE_EVENTS \(num_replicas 3 → 5\): [^\n]+$/,
    });
  });

  it('keeps every event exactly once and in order when the stream leader is killed during a burst', async (t) => {
    const prefix = 'burst';
    const warnings: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line).err) });
    const log = await JetStreamEventLog.open(nc, { prefix, replicas: 3, timeoutMs: 2000, logger });
    t.after(() => log.close());
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(streamName(prefix, 'events'));
    assert.equal(info.config.num_replicas, 3);
    // startNatsCluster names its nodes node1, node2, node3.
    const leader = nodes.find((_, i) => info.cluster?.leader === `node${i + 1}`);
    assert.ok(leader, `stream leader ${info.cluster?.leader} is one of the nodes`);

    // A follower from the start, running through the failure.
    const followed: StoredEvent[] = [];
    const stopFollowing = new AbortController();
    t.after(() => stopFollowing.abort());
    const following = (async () => {
      for await (const batch of log.follow(1, stopFollowing.signal)) followed.push(...batch.events);
    })();

    const failures: string[] = [];
    // The caller's retry: the same call (for appends: the same batch, same ids) until it succeeds.
    const retried = async <T>(call: () => Promise<T>): Promise<T> => {
      for (;;) {
        try {
          return await call();
        } catch (err) {
          failures.push((err as Error).message);
          if (failures.length > 300) throw err;
          await sleep(100);
        }
      }
    };
    const started = Date.now();
    for (let n = 1; n <= EVENTS; n += BATCH) {
      if (n === 1 + EVENTS / 3) await leader.halt(true);
      const batch = Array.from({ length: BATCH }, (_, i) => ({ id: `e${n + i}`, cluster: `c${(n + i) % 3}`, payload: `{"n":${n + i}}` }));
      await retried(() => log.append(batch));
    }
    t.diagnostic(`${EVENTS} appends in ${Date.now() - started} ms; ${failures.length} failed attempts retried: ${[...new Set(failures)].join(' | ')}`);

    const stored = await retried(() => log.read(1, EVENTS + 100));
    assert.equal(stored.length, EVENTS);
    assert.ok(stored.every((e, i) => e.seq === i + 1 && e.id === `e${i + 1}`), 'seqs 1… hold ids e1… in order');
    assert.equal((await retried(() => jsm.streams.info(streamName(prefix, 'events')))).state.messages, EVENTS);

    const deadline = Date.now() + 30_000;
    while (followed.length < EVENTS && Date.now() < deadline) await sleep(50);
    t.diagnostic(`the follower had all events ${Date.now() - started} ms after the burst began; it resumed after: ${[...new Set(warnings)].join(' | ')}`);
    stopFollowing.abort();
    await following;
    assert.deepEqual(
      followed.map((e) => e.seq),
      stored.map((e) => e.seq),
      'the follower saw every event once, in order',
    );
  });
});
