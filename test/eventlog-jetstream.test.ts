// JetStreamEventLog on a real nats-server: the EventLog contract (a fresh
// stream per case), stream management, dedup across publishers, validation,
// reconnects and bulk reads.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, nanos, type NatsConnection } from '@nats-io/transport-node';
import type { AppendItem, StoredEvent } from '../shared/eventLog.js';
import { JetStreamEventLog, eventsSubject, streamName } from '../shared/jetstreamEventLog.js';
import { silentLogger } from '../shared/logger.js';
import { connectNats } from '../shared/nats.js';
import { eventLogContract, items } from './eventLogContract.js';
import { NatsServer, natsServerMissing } from './support/natsServer.js';

const missing = natsServerMissing();

async function until(predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) assert.fail('condition not met in time');
    await sleep(10);
  }
}


describe('JetStreamEventLog', { skip: missing }, () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let cases = 0;
  const freshPrefix = () => `t${++cases}`;

  before(async () => {
    server = await NatsServer.start();
    nc = await connect({ servers: server.url });
  });
  after(async () => {
    await nc?.close();
    await server?.stop();
  });

  eventLogContract('JetStreamEventLog', async () => {
    const prefix = freshPrefix();
    const connections: NatsConnection[] = [];
    const log = await JetStreamEventLog.open(nc, { prefix });
    return {
      log,
      reopen: async () => {
        const again = await connect({ servers: server.url });
        connections.push(again);
        return JetStreamEventLog.open(again, { prefix });
      },
      cleanup: async () => {
        for (const c of connections) await c.close();
        const jsm = await jetstreamManager(nc);
        await jsm.streams.delete(streamName(prefix, 'events'));
      },
    };
  });

  it('names subjects and streams after the prefix', () => {
    assert.equal(eventsSubject('mcsdns', 'east'), 'mcsdns.events.east');
    assert.equal(streamName('mcsdns', 'events'), 'MCSDNS_EVENTS');
    assert.equal(streamName('my-org.dns', 'events'), 'MY_ORG_DNS_EVENTS');
    assert.throws(() => eventsSubject('mcsdns', 'a.b'), /not a NATS subject token/);
    assert.throws(() => eventsSubject('mcsdns', '*'), /not a NATS subject token/);
  });

  it('creates the stream with file storage and the configured limits', async () => {
    const prefix = freshPrefix();
    const log = await JetStreamEventLog.open(nc, { prefix, retentionMs: 3_600_000, duplicateWindowMs: 60_000, replicas: 1 });
    const jsm = await jetstreamManager(nc);
    const { config } = await jsm.streams.info(streamName(prefix, 'events'));
    assert.deepEqual(config.subjects, [`${prefix}.events.*`]);
    assert.equal(config.storage, 'file');
    assert.equal(config.retention, 'limits');
    assert.equal(config.max_age, nanos(3_600_000));
    assert.equal(config.duplicate_window, nanos(60_000));
    assert.equal(config.num_replicas, 1);
    await log.close();
  });

  it('brings an existing stream to the configured limits, keeping its events', async () => {
    const prefix = freshPrefix();
    const first = await JetStreamEventLog.open(nc, { prefix, retentionMs: 3_600_000, duplicateWindowMs: 60_000 });
    await first.append(items(1, 3));
    await first.close();
    const second = await JetStreamEventLog.open(nc, { prefix, retentionMs: 7_200_000, duplicateWindowMs: 120_000 });
    const jsm = await jetstreamManager(nc);
    const { config, state } = await jsm.streams.info(streamName(prefix, 'events'));
    assert.equal(config.max_age, nanos(7_200_000));
    assert.equal(config.duplicate_window, nanos(120_000));
    assert.equal(state.messages, 3);
    await second.close();
  });

  it('refuses an existing stream of another storage or other subjects in one line', async () => {
    const jsm = await jetstreamManager(nc);
    const memory = freshPrefix();
    await jsm.streams.add({ name: streamName(memory, 'events'), subjects: [`${memory}.events.*`], storage: 'memory' });
    await assert.rejects(JetStreamEventLog.open(nc, { prefix: memory }), {
      message: new RegExp(`^stream ${streamName(memory, 'events')} exists but cannot hold mcsdns events \\(storage is memory, not file\\): delete it [^\\n]+$`),
    });
    const other = freshPrefix();
    await jsm.streams.add({ name: streamName(other, 'events'), subjects: [`${other}.other.>`] });
    await assert.rejects(JetStreamEventLog.open(nc, { prefix: other }), {
      message: /^stream \S+ exists but cannot hold mcsdns events \(subjects are \[t\d+\.other\.>\], not \[t\d+\.events\.\*\]\): delete it [^\n]+$/,
    });
  });

  it('rejects settings that contradict each other before touching the server', async () => {
    await assert.rejects(JetStreamEventLog.open(nc, { retentionMs: 1000, duplicateWindowMs: 2000 }), /no longer than the retention/);
    await assert.rejects(JetStreamEventLog.open(nc, { prefix: 'a b' }), /not a NATS subject prefix/);
  });

  it('without stream management, fails appends clearly while the stream is missing and never creates it', async () => {
    const prefix = freshPrefix();
    const log = await JetStreamEventLog.open(nc, { prefix, manageStream: false });
    await assert.rejects(log.append(items(1, 1)), {
      message: new RegExp(`^append: no stream answered for ${prefix}\\.events\\.east: stream ${streamName(prefix, 'events')} does not exist`),
    });
    await assert.rejects(log.lastSeq(), { message: `lastSeq: stream ${streamName(prefix, 'events')} does not exist` });
    const jsm = await jetstreamManager(nc);
    await assert.rejects(jsm.streams.info(streamName(prefix, 'events')), /stream not found/);
    // Once the aggregator created the stream, the same log object appends.
    const managed = await JetStreamEventLog.open(nc, { prefix });
    assert.deepEqual(await log.append(items(1, 1)), [{ seq: 1, duplicate: false }]);
    await log.close();
    await managed.close();
  });

  it('stores no duplicate when a publisher re-publishes the same ids after a crash', async () => {
    const prefix = freshPrefix();
    const log = await JetStreamEventLog.open(nc, { prefix });
    await log.append(items(1, 5));
    // The "crashed" publisher restarts on a new connection and re-sends its last batch and more.
    const restarted = await connect({ servers: server.url });
    const again = await JetStreamEventLog.open(restarted, { prefix, manageStream: false });
    const results = await again.append(items(3, 8));
    assert.deepEqual(results.map((r) => r.duplicate), [true, true, true, false, false, false]);
    assert.deepEqual(results.map((r) => r.seq), [3, 4, 5, 6, 7, 8]);
    const stored = await log.read(1, 100);
    assert.deepEqual(stored.map((e) => e.id), items(1, 8).map((i) => i.id));
    await again.close();
    await restarted.close();
    await log.close();
  });

  it('stores only the prefix before an item the server refuses, so a retry keeps the order', async () => {
    const prefix = freshPrefix();
    // A stream that refuses big messages: the one item in the middle of a batch that fails on the server.
    const jsm = await jetstreamManager(nc);
    const window = nanos(2 * 60 * 1000);
    await jsm.streams.add({ name: streamName(prefix, 'events'), subjects: [`${prefix}.events.*`], storage: 'file', retention: 'limits', max_msg_size: 200, duplicate_window: window });
    const log = await JetStreamEventLog.open(nc, { prefix });
    const batch = [...items(1, 2), { id: 'big', cluster: 'east', payload: 'x'.repeat(300) }, ...items(4, 600)];
    await assert.rejects(log.append(batch), /^Error: append to t\d+\.events\.east \(id big\): /);
    assert.deepEqual((await log.read(1, 1000)).map((e) => e.id), ['e1', 'e2']);
    await log.close();
  });

  it('keeps each publisher\'s events in order, once, while publishers interleave', async () => {
    const prefix = freshPrefix();
    const log = await JetStreamEventLog.open(nc, { prefix });
    const other = await connect({ servers: server.url });
    const otherLog = await JetStreamEventLog.open(other, { prefix, manageStream: false });
    // Big enough batches of big enough events that the server reads them in pieces and interleaves them.
    const ofCluster = (from: number, to: number, cluster: string) =>
      items(from, to, cluster).map((i) => ({ ...i, id: `${cluster}-${i.id}`, payload: i.payload.padEnd(2000) }));
    const publish = async (into: JetStreamEventLog, cluster: string) => {
      for (let n = 1; n <= 1000; n += 500) await into.append(ofCluster(n, n + 499, cluster));
    };
    await Promise.all([publish(log, 'east'), publish(otherLog, 'west'), publish(otherLog, 'north')]);
    const stored = await log.read(1, 5000);
    assert.equal(stored.length, 3000);
    for (const cluster of ['east', 'west', 'north']) {
      assert.deepEqual(stored.filter((e) => e.cluster === cluster).map((e) => e.id), ofCluster(1, 1000, cluster).map((i) => i.id));
    }
    await otherLog.close();
    await other.close();
    await log.close();
  });

  it('writes nothing of a batch with an item it cannot publish', async () => {
    const prefix = freshPrefix();
    const log = await JetStreamEventLog.open(nc, { prefix });
    const bad: AppendItem[][] = [
      [{ id: 'x', cluster: 'a.b', payload: '{}' }],
      [{ id: 'x', cluster: '', payload: '{}' }],
      [{ id: 'line\nbreak', cluster: 'east', payload: '{}' }],
      [{ id: 'big', cluster: 'east', payload: 'x'.repeat(nc.info!.max_payload) }],
    ];
    for (const b of bad) await assert.rejects(log.append([...items(1, 2), ...b]), /^Error: append: item 2/);
    assert.equal(await log.lastSeq(), 0);
    await log.close();
  });

  it('follows through a server restart without losing or repeating events', async () => {
    const own = await NatsServer.start();
    const conn = await connectNats({ servers: [own.url], signal: AbortSignal.timeout(10_000) }, silentLogger);
    const log = await JetStreamEventLog.open(conn, { prefix: 'restart' });
    try {
      await log.append(items(1, 5));
      const seen: StoredEvent[] = [];
      const controller = new AbortController();
      const following = (async () => {
        for await (const batch of log.follow(1, controller.signal)) seen.push(...batch.events);
      })();
      await until(() => seen.length >= 5);
      await own.halt();
      await own.run();
      for (;;) {
        try {
          await log.append(items(6, 10)); // fails while the client reconnects; retried as the agent would
          break;
        } catch {
          await sleep(200);
        }
      }
      await until(() => seen.length >= 10, 20_000);
      await sleep(100);
      controller.abort();
      await following;
      assert.deepEqual(seen.map((e) => e.id), items(1, 10).map((i) => i.id));
    } finally {
      await log.close();
      await conn.close();
      await own.stop();
    }
  });

  // The aggregator applies each batch in a transaction, and derives the view once it is no longer behind:
  // a backlog must not come three events at a time, and must say that it is one.
  it('gives a follower that fell behind the backlog in batches as large as its pulls, each saying how many wait', async () => {
    const log = await JetStreamEventLog.open(nc, { prefix: freshPrefix() });
    for (let n = 1; n <= 3000; n += 500) await log.append(items(n, n + 499));
    const batches: number[] = [];
    const controller = new AbortController();
    for await (const { events, behind } of log.follow(1, controller.signal)) {
      batches.push(events.length);
      assert.equal(behind, 3000 - events[events.length - 1]!.seq);
      if (behind === 0) controller.abort();
    }
    assert.equal(batches.reduce((a, b) => a + b, 0), 3000);
    // Three per batch were 1,000 batches; a busy machine delivers a pull in a few dozen.
    assert.ok(batches.length < 100, `${batches.length} batches: ${batches.join(' ')}`);
    await log.close();
  });

  it('ends a follower with an error when the log is closed under it', async () => {
    const prefix = freshPrefix();
    const log = await JetStreamEventLog.open(nc, { prefix });
    const following = (async () => {
      for await (const _ of log.follow(1, new AbortController().signal));
    })();
    await sleep(50);
    await log.close();
    await assert.rejects(following, /event log is closed/);
    await assert.rejects(log.append(items(1, 1)), /event log is closed/);
  });

  it('reads 20,000 events through one consumer, with few JetStream API requests', async (t) => {
    const prefix = freshPrefix();
    const log = await JetStreamEventLog.open(nc, { prefix });
    // Filled directly, what is measured here is read(); pipelined in batches,
    // as each publish times out on its own and a loaded server acks 20,000 slowly.
    const js = (await jetstreamManager(nc)).jetstream();
    for (let from = 1; from <= 20_000; from += 1000) {
      const acks = [];
      for (let n = from; n < from + 1000; n++) {
        acks.push(js.publish(`${prefix}.events.${n % 2 ? 'east' : 'west'}`, `{"n":${n}}`, { msgID: `e${n}` }));
      }
      await Promise.all(acks);
    }
    const watcher = await connect({ servers: server.url });
    const requests: string[] = [];
    const sub = watcher.subscribe('$JS.API.>', { callback: (_err, m) => void requests.push(m.subject) });
    await watcher.flush();
    const started = Date.now();
    const events: StoredEvent[] = await log.read(1, 50_000);
    const took = Date.now() - started;
    await watcher.flush();
    sub.unsubscribe();
    await watcher.close();
    assert.equal(events.length, 20_000);
    assert.ok(events.every((e, i) => e.seq === i + 1 && e.id === `e${i + 1}` && e.payload === `{"n":${i + 1}}`));
    assert.equal(events[0]?.cluster, 'east');
    assert.equal(events[1]?.cluster, 'west');
    assert.ok(requests.length <= 5, `read sent ${requests.length} API requests: ${requests.join(' ')}`);
    t.diagnostic(`read 20000 events in ${took} ms with ${requests.length} API requests: ${requests.join(' ')}`);
    const tail = await log.read(19_990, 5);
    assert.deepEqual(tail.map((e) => e.seq), [19_990, 19_991, 19_992, 19_993, 19_994]);
    await log.close();
  });
});
