// JetStreamEventLog.append's publish path on a real nats-server: the headers
// each publish carries, acknowledgements that come out of order, twice, too
// late or never (a stand-in stream answers by hand, or a proxy swallows what
// the server says), publishes the server denies, and a connection that drops
// and comes back.
import assert from 'node:assert/strict';
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { JetStreamEventLog, streamName } from '../shared/jetstreamEventLog.js';
import { items } from './eventLogContract.js';
import { NatsServer, natsServerMissing, samplePasswords, startSecuredNats } from './support/natsServer.js';

async function until(predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) assert.fail('condition not met in time');
    await sleep(5);
  }
}


const stored = (stream: string, seq: number, duplicate = false) => JSON.stringify({ stream, seq, ...(duplicate ? { duplicate } : {}) });
const refused = (errCode: number, description: string) => JSON.stringify({ error: { code: 400, err_code: errCode, description } });

// Stands in for the stream on `<prefix>.events.*`: keeps what is published, answered by the test.
async function fakeStream(nc: NatsConnection, prefix: string): Promise<Msg[]> {
  const received: Msg[] = [];
  nc.subscribe(`${prefix}.events.*`, { callback: (_err, m) => void received.push(m) });
  await nc.flush();
  return received;
}

// A TCP proxy in front of a NATS server that can swallow what the server
// sends (the server seems gone while it still stores) and cut connections.
class Proxy {
  swallowReplies = false;
  private readonly sockets = new Set<Socket>();
  private constructor(private readonly server: Server) {}

  static async start(upstreamPort: number): Promise<Proxy> {
    const server = createServer();
    const proxy = new Proxy(server);
    server.on('connection', (client) => {
      const upstream = tcpConnect(upstreamPort, '127.0.0.1');
      for (const s of [client, upstream]) {
        proxy.sockets.add(s);
        s.on('close', () => {
          proxy.sockets.delete(s);
          client.destroy();
          upstream.destroy();
        });
        s.on('error', () => undefined);
      }
      client.on('data', (d) => upstream.write(d));
      upstream.on('data', (d) => proxy.swallowReplies || client.write(d));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get url(): string {
    return `nats://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  cut(): void {
    for (const s of this.sockets) s.destroy();
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

describe('JetStreamEventLog publishing', { skip: natsServerMissing() }, () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let cases = 0;
  const freshPrefix = () => `p${++cases}`;

  before(async () => {
    server = await NatsServer.start();
    nc = await connect({ servers: server.url });
  });
  after(async () => {
    await nc?.close();
    await server?.stop();
  });

  it('chains each window of publishes by the predecessor\'s id, deduplicated by its own', async () => {
    const prefix = freshPrefix();
    const received = await fakeStream(nc, prefix);
    const log = await JetStreamEventLog.open(nc, { prefix, manageStream: false });
    const appended = log.append(items(1, 250));
    const stream = streamName(prefix, 'events');
    // Windows of 100: the next is sent once the one before is answered.
    for (const upTo of [100, 200, 250]) {
      await until(() => received.length === upTo);
      for (let i = upTo > 200 ? 200 : upTo - 100; i < upTo; i++) received[i]!.respond(stored(stream, i + 1));
    }
    assert.deepEqual(await appended, items(1, 250).map((_, i) => ({ seq: i + 1, duplicate: false })));
    for (const [i, m] of received.entries()) {
      assert.equal(m.subject, `${prefix}.events.east`);
      assert.equal(m.string(), `{"n":${i + 1}}`);
      assert.equal(m.headers?.get('Nats-Msg-Id'), `e${i + 1}`);
      assert.equal(m.headers?.get('Nats-Expected-Stream'), stream);
      assert.equal(m.headers?.get('Nats-Expected-Last-Msg-Id'), i % 100 === 0 ? '' : `e${i}`, `item ${i + 1}`);
    }
    assert.ok(received.every((m) => m.reply?.startsWith('_INBOX.')), 'replies go to an inbox an agent may subscribe to');
    await log.close();
  });

  it('takes acknowledgements that come in reverse order, each twice, by position, the first of each', async () => {
    const prefix = freshPrefix();
    const received = await fakeStream(nc, prefix);
    const log = await JetStreamEventLog.open(nc, { prefix, manageStream: false });
    const appended = log.append(items(1, 5));
    const stream = streamName(prefix, 'events');
    await until(() => received.length === 5);
    for (const m of [...received].reverse()) {
      const seq = 10 + received.indexOf(m);
      m.respond(stored(stream, seq, seq % 2 === 0));
      m.respond(stored(stream, 99));
    }
    assert.deepEqual(await appended, [
      { seq: 10, duplicate: true },
      { seq: 11, duplicate: false },
      { seq: 12, duplicate: true },
      { seq: 13, duplicate: false },
      { seq: 14, duplicate: true },
    ]);
    await log.close();
  });

  it('goes on from where another publisher\'s event came between, expecting no predecessor there', async () => {
    const prefix = freshPrefix();
    const received = await fakeStream(nc, prefix);
    const log = await JetStreamEventLog.open(nc, { prefix, manageStream: false });
    const appended = log.append(items(1, 6));
    const stream = streamName(prefix, 'events');
    await until(() => received.length === 6);
    // e1 and e2 stored, then another publisher's event: e3 to e6 expected the wrong last message.
    received.forEach((m, i) => m.respond(i < 2 ? stored(stream, i + 1) : refused(10070, 'wrong last msg ID: other')));
    await until(() => received.length === 10);
    received.slice(6).forEach((m, i) => m.respond(stored(stream, i + 4)));
    assert.deepEqual((await appended).map((r) => r.seq), [1, 2, 4, 5, 6, 7]);
    assert.deepEqual(received.slice(6).map((m) => m.headers?.get('Nats-Msg-Id')), ['e3', 'e4', 'e5', 'e6']);
    assert.equal(received[6]!.headers?.get('Nats-Expected-Last-Msg-Id'), '', 'the resumed window starts unchained');
    assert.equal(received[7]!.headers?.get('Nats-Expected-Last-Msg-Id'), 'e3');
    await log.close();
  });

  it('fails at the first item the stream refuses for another reason, naming it, even where answers came after it', async () => {
    const prefix = freshPrefix();
    const received = await fakeStream(nc, prefix);
    const log = await JetStreamEventLog.open(nc, { prefix, manageStream: false });
    const appended = log.append(items(1, 3));
    const stream = streamName(prefix, 'events');
    await until(() => received.length === 3);
    received[2]!.respond(stored(stream, 3));
    received[1]!.respond(refused(10071, 'wrong last sequence: 7'));
    received[0]!.respond(stored(stream, 1));
    await assert.rejects(appended, { message: `append to ${prefix}.events.east (id e2): wrong last sequence: 7` });
    await log.close();
  });

  it('fails a window the stream does not answer after timeoutMs, and ignores the answers that come later', async () => {
    const prefix = freshPrefix();
    const received = await fakeStream(nc, prefix);
    const log = await JetStreamEventLog.open(nc, { prefix, manageStream: false, timeoutMs: 300 });
    const stream = streamName(prefix, 'events');
    const started = Date.now();
    await assert.rejects(log.append(items(1, 50)), { message: `append to ${prefix}.events.east (id e1): no acknowledgement within 300 ms` });
    assert.ok(Date.now() - started < 2000, 'one timer for the window');
    // The retry is answered; the late answers to the first attempt come first and must not count.
    const retried = log.append(items(1, 2));
    await until(() => received.length === 52);
    received[0]!.respond(stored(stream, 40));
    received[1]!.respond(stored(stream, 41));
    received[51]!.respond(stored(stream, 2, true));
    received[50]!.respond(stored(stream, 1, true));
    assert.deepEqual(await retried, [{ seq: 1, duplicate: true }, { seq: 2, duplicate: true }]);
    await log.close();
  });

  it('fails at once, not after timeoutMs, when no stream listens on the subject', async () => {
    const prefix = freshPrefix();
    const log = await JetStreamEventLog.open(nc, { prefix, manageStream: false, timeoutMs: 60_000 });
    const started = Date.now();
    await assert.rejects(log.append(items(1, 150)), {
      message: new RegExp(`^append: no stream answered for ${prefix}\\.events\\.east: stream ${streamName(prefix, 'events')} does not exist \\(the aggregator creates it\\)`),
    });
    assert.ok(Date.now() - started < 10_000);
    await log.close();
  });

  it('fails at once at a publish the server denies, naming it, and goes on publishing what is allowed', async () => {
    const secured = await startSecuredNats();
    const as = (user: string) => connect({ servers: secured.url, user, pass: samplePasswords[user]!, maxReconnectAttempts: 0 });
    const [aggregator, agent] = [await as('aggregator'), await as('agent-east')];
    try {
      await (await JetStreamEventLog.open(aggregator)).close();
      const log = await JetStreamEventLog.open(agent, { manageStream: false, timeoutMs: 60_000 });
      const started = Date.now();
      await assert.rejects(log.append([...items(1, 2), { id: 'w1', cluster: 'west', payload: '{}' }]), {
        message: 'append to mcsdns.events.west (id w1): Permissions Violation for Publish to "mcsdns.events.west"',
      });
      assert.ok(Date.now() - started < 10_000);
      assert.deepEqual(await log.append(items(1, 3)), [
        { seq: 1, duplicate: true },
        { seq: 2, duplicate: true },
        { seq: 3, duplicate: false },
      ]);
      await log.close();
    } finally {
      await agent.close();
      await aggregator.close();
      await secured.stop();
    }
  });

  it('fails at once, naming the inbox, when the server lets the publisher subscribe to no acknowledgements', async () => {
    const config = `authorization { users: [
      { user: admin, password: admin }
      { user: mute, password: mute, permissions: { publish: { allow: ["mcsdns.events.east"] }, subscribe: { deny: [">"] } } }
    ] }`;
    const own = await NatsServer.start({ config });
    const admin = await connect({ servers: own.url, user: 'admin', pass: 'admin' });
    const mute = await connect({ servers: own.url, user: 'mute', pass: 'mute' });
    try {
      await (await JetStreamEventLog.open(admin)).close();
      const log = await JetStreamEventLog.open(mute, { manageStream: false, timeoutMs: 60_000 });
      // Each call subscribes again: the server dropped the subscription it refused.
      for (let attempt = 1; attempt <= 2; attempt++) {
        await assert.rejects(log.append(items(1, 3)), /^Error: append to mcsdns\.events\.east \(id e1\): Permissions Violation for Subscription to "_INBOX\.\w+\.\*"$/);
      }
      await log.close();
    } finally {
      await mute.close();
      await admin.close();
      await own.stop();
    }
  });

  it('fails a window whose acknowledgements are lost with the server, and a retry completes it after a reconnect', async () => {
    const prefix = freshPrefix();
    const proxy = await Proxy.start(server.port);
    const proxied = await connect({ servers: proxy.url, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
    try {
      const log = await JetStreamEventLog.open(proxied, { prefix, timeoutMs: 500 });
      assert.equal((await log.append(items(1, 5))).length, 5);
      // The server still stores what arrives, but says nothing back, as if it went away mid-window.
      proxy.swallowReplies = true;
      await assert.rejects(log.append(items(6, 255)), /\(id e6\): no acknowledgement within 500 ms$/);
      proxy.swallowReplies = false;
      proxy.cut();
      // After the reconnect the same log, its inbox subscribed again, completes the call with the same ids.
      const retried = await retry(() => log.append(items(6, 255)));
      assert.equal(retried.length, 250);
      assert.ok(retried.every((r, i) => r.seq === i + 6));
      const events = await log.read(1, 1000);
      assert.deepEqual(events.map((e) => e.id), items(1, 255).map((i) => i.id));
      await log.close();
    } finally {
      await proxied.close();
      await proxy.stop();
    }
  });

  it('fails a window at once when its connection closes', async () => {
    const prefix = freshPrefix();
    const own = await connect({ servers: server.url });
    await fakeStream(nc, prefix);
    const log = await JetStreamEventLog.open(own, { prefix, manageStream: false, timeoutMs: 60_000 });
    const appended = log.append(items(1, 10));
    await own.flush();
    await own.close();
    await assert.rejects(appended, /\(id e1\): the NATS connection closed$/);
    await assert.rejects(log.append(items(1, 1)), /\(id e1\): closed connection$/);
    await log.close();
  });
});

// Retries while the client is still reconnecting.
async function retry<T>(attempt: () => Promise<T>): Promise<T> {
  for (let n = 0; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      if (n >= 20) throw err;
      await sleep(100);
    }
  }
}
