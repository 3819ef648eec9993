// Fallthrough and forwarding against a real upstream: a small DNS server of
// this test's own (UDP and TCP) that answers some names, truncates one over
// UDP to force the TCP retry, and never answers another. Clients are
// dns-packet over sockets and `dig`.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import { Frontend, type FrontendOptions } from '../services/frontend/server.js';
import type { Upstream } from '../services/frontend/upstream.js';
import type { DnsView, ViewDelta, ViewFeed, ViewListener } from '../shared/view.js';
import { createRegistry, frontendMetrics } from '../shared/metrics.js';
import { sampleValue } from './metrics-samples.js';
import { answerStrings, dig, queryTcp, queryUdp, rcode } from './support/dnsClient.js';

const Z = 'clusterset.local';
const HOST = '127.0.0.1';
const TIMEOUT_MS = 300;

class MemoryFeed implements ViewFeed {
  private readonly listeners = new Set<ViewListener>();
  constructor(private view: DnsView) {}
  subscribe(listener: ViewListener): () => void {
    this.listeners.add(listener);
    listener.snapshot(this.view);
    return () => this.listeners.delete(listener);
  }
  delta(delta: ViewDelta): void {
    for (const l of this.listeners) l.delta(delta);
  }
}

function view(synced: boolean): DnsView {
  return {
    version: 1,
    clusters: [{ id: 'c1', synced }],
    namespaces: ['prod'],
    services: { 'prod/web': { names: { 'web.prod.svc': [{ type: 'A', address: '10.0.0.10' }] } } },
  };
}

interface Seen {
  name: string;
  transport: 'udp' | 'tcp';
  id: number;
}

// The upstream: every name gets an A record except these.
const BIG = 'big.example.org'; // UDP: TC and no records; TCP: 3 A records
const HUGE = 'huge.example.org'; // UDP: TC; TCP: 60 A records, more than 512 octets
const SILENT = 'silent.example.org'; // never answered
const GONE = 'gone.example.org'; // NXDOMAIN

class TestUpstream {
  readonly seen: Seen[] = [];
  private udp = dgram.createSocket('udp4');
  private readonly tcp = net.createServer((socket) => this.onConnection(socket));
  private readonly sockets = new Set<net.Socket>();

  // UDP and TCP on one port: a free UDP port may be taken for TCP, then another.
  async start(): Promise<Upstream> {
    for (let attempt = 1; ; attempt++) {
      await new Promise<void>((resolve) => this.udp.bind(0, HOST, resolve));
      const port = this.udp.address().port;
      try {
        await new Promise<void>((resolve, reject) => this.tcp.once('error', reject).listen(port, HOST, resolve));
      } catch (err) {
        this.udp.close(); // a socket left open would keep the test process alive
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt === 10) throw err;
        this.udp = dgram.createSocket('udp4');
        continue;
      }
      this.udp.on('message', (msg, peer) => {
        const reply = this.answer(msg, 'udp');
        if (reply) this.udp.send(reply, peer.port, peer.address);
      });
      return { host: HOST, port };
    }
  }

  names(): string[] {
    return this.seen.map((s) => `${s.transport} ${s.name}`);
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all([new Promise<void>((r) => this.udp.close(() => r())), new Promise<void>((r) => this.tcp.close(() => r()))]);
  }

  private onConnection(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    let data = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      while (data.length >= 2 && data.length >= 2 + data.readUInt16BE(0)) {
        const reply = this.answer(data.subarray(2, 2 + data.readUInt16BE(0)), 'tcp');
        data = data.subarray(2 + data.readUInt16BE(0));
        if (reply) socket.write(Buffer.concat([Buffer.from([reply.length >> 8, reply.length & 0xff]), reply]));
      }
    });
  }

  private answer(msg: Buffer, transport: 'udp' | 'tcp'): Buffer | undefined {
    const query = dnsPacket.decode(msg);
    const question = query.questions![0]!;
    const name = question.name.toLowerCase();
    this.seen.push({ name, transport, id: query.id! });
    if (name === SILENT) return undefined;
    const a = (address: string): dnsPacket.Answer => ({ type: 'A', name: question.name, ttl: 60, data: address });
    const reply = (flags: number, answers: dnsPacket.Answer[]) =>
      dnsPacket.encode({ type: 'response', id: query.id, flags: flags | (query.flags! & dnsPacket.RECURSION_DESIRED), questions: [question], answers });
    if (name === GONE) return reply(dnsPacket.AUTHORITATIVE_ANSWER | 3, []);
    if ((name === BIG || name === HUGE) && transport === 'udp') return reply(dnsPacket.TRUNCATED_RESPONSE, []);
    if (name === BIG) return reply(0, [a('192.0.2.21'), a('192.0.2.22'), a('192.0.2.23')]);
    if (name === HUGE) return reply(0, Array.from({ length: 60 }, (_, i) => a(`192.0.2.${100 + i}`)));
    return reply(dnsPacket.RECURSION_AVAILABLE, [a(name.endsWith(Z) ? '192.0.2.99' : '192.0.2.1')]);
  }
}

// A port with no UDP or TCP listener: tries there fail at once.
async function closedPort(): Promise<Upstream> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return { host: HOST, port };
}

async function started(options: Omit<FrontendOptions, 'zones' | 'listen'>, synced = true): Promise<Frontend> {
  const frontend = new Frontend(new MemoryFeed(view(synced)), { zones: [Z], listen: { host: HOST, port: 0 }, upstreamTimeoutMs: TIMEOUT_MS, ...options });
  await frontend.start();
  return frontend;
}

describe('frontend fallthrough to an upstream', () => {
  const upstream = new TestUpstream();
  let upstreamAddress: Upstream;
  let frontend: Frontend;
  let port = 0;

  before(async () => {
    upstreamAddress = await upstream.start();
    frontend = await started({ fallthrough: { zones: [] }, upstreams: [upstreamAddress] });
    port = frontend.address.port;
  });
  after(async () => {
    await frontend.stop();
    await upstream.stop();
  });

  it('relays the upstream answer for a name outside every zone, with the client id restored', async () => {
    upstream.seen.length = 0;
    const ids = [4242, 4243, 4244];
    for (const id of ids) {
      const reply = await queryUdp(port, 'www.example.org', 'A', { id });
      assert.equal(reply.id, id);
      assert.deepEqual(answerStrings(reply), ['A 192.0.2.1']);
      assert.equal(reply.flags! & dnsPacket.RECURSION_AVAILABLE, dnsPacket.RECURSION_AVAILABLE, 'the upstream flags are relayed');
    }
    assert.deepEqual(upstream.names(), ['udp www.example.org', 'udp www.example.org', 'udp www.example.org']);
    assert.ok(upstream.seen.some((s, i) => s.id !== ids[i]), 'upstream queries carry their own random ids');
  });

  it('forwards what would be NXDOMAIN in the zone, and keeps answering existing names itself', async () => {
    upstream.seen.length = 0;
    const missing = await queryUdp(port, `missing.${Z}`, 'A');
    assert.deepEqual([rcode(missing), answerStrings(missing)], ['NOERROR', ['A 192.0.2.99']]);
    const web = await queryUdp(port, `web.prod.svc.${Z}`, 'A');
    assert.deepEqual(answerStrings(web), ['A 10.0.0.10']);
    const nodata = await queryUdp(port, `web.prod.svc.${Z}`, 'AAAA');
    assert.deepEqual([rcode(nodata), nodata.answers?.length], ['NOERROR', 0]);
    assert.deepEqual(upstream.names(), [`udp missing.${Z}`], 'only the NXDOMAIN went upstream');
  });

  it("relays the upstream's own NXDOMAIN", async () => {
    const reply = await queryUdp(port, GONE, 'A');
    assert.equal(rcode(reply), 'NXDOMAIN');
  });

  it('retries over TCP when the upstream truncates over UDP', async () => {
    upstream.seen.length = 0;
    const reply = await queryUdp(port, BIG, 'A');
    assert.equal(reply.flags! & dnsPacket.TRUNCATED_RESPONSE, 0);
    assert.deepEqual(answerStrings(reply), ['A 192.0.2.21', 'A 192.0.2.22', 'A 192.0.2.23']);
    assert.deepEqual(upstream.names(), [`udp ${BIG}`, `tcp ${BIG}`]);
  });

  it('gives a UDP client the truncated answer when the whole one does not fit, and the whole over TCP', async () => {
    const udp = await queryUdp(port, HUGE, 'A');
    assert.equal(udp.flags! & dnsPacket.TRUNCATED_RESPONSE, dnsPacket.TRUNCATED_RESPONSE);
    upstream.seen.length = 0;
    const tcp = await queryTcp(port, HUGE, 'A');
    assert.equal(tcp.answers?.length, 60);
    assert.deepEqual(upstream.names(), [`tcp ${HUGE}`], 'a TCP client is forwarded over TCP only');
  });

  it('answers SERVFAIL when no upstream answers in time', async () => {
    const started = Date.now();
    const reply = await queryUdp(port, SILENT, 'A');
    assert.equal(rcode(reply), 'SERVFAIL');
    assert.equal(reply.questions?.[0]?.name, SILENT);
    assert.ok(Date.now() - started >= TIMEOUT_MS - 20);
  });

  it('shows relayed answers to dig, over UDP (falling back to TCP on TC) and TCP', async () => {
    const www = await dig(port, ['www.example.org', 'A']);
    assert.match(www, /status: NOERROR/);
    assert.match(www, /www\.example\.org\.\s+60\s+IN\s+A\s+192\.0\.2\.1/);
    const huge = await dig(port, [HUGE, 'A']);
    assert.match(huge, /Truncated, retrying in TCP mode/);
    assert.match(huge, /ANSWER: 60,/);
    const missing = await dig(port, ['+tcp', `missing.${Z}`, 'A']);
    assert.match(missing, /missing\.clusterset\.local\.\s+60\s+IN\s+A\s+192\.0\.2\.99/);
  });
});

describe('frontend forwarding choices', () => {
  const upstream = new TestUpstream();
  let live: Upstream;
  const frontends: Frontend[] = [];
  const start = async (options: Omit<FrontendOptions, 'zones' | 'listen'>, synced = true) => {
    const f = await started(options, synced);
    frontends.push(f);
    return f.address.port;
  };

  before(async () => {
    live = await upstream.start();
  });
  after(async () => {
    await Promise.all(frontends.map((f) => f.stop()));
    await upstream.stop();
  });

  it('without upstreams: REFUSED outside the zones, NXDOMAIN in them even with fallthrough', async () => {
    const port = await start({ fallthrough: { zones: [] } });
    assert.equal(rcode(await queryUdp(port, 'www.example.org', 'A')), 'REFUSED');
    assert.equal(rcode(await queryUdp(port, `missing.${Z}`, 'A')), 'NXDOMAIN');
  });

  it('with upstreams but no fallthrough: NXDOMAIN stays, outside names are forwarded', async () => {
    const port = await start({ upstreams: [live] });
    upstream.seen.length = 0;
    assert.equal(rcode(await queryUdp(port, `missing.${Z}`, 'A')), 'NXDOMAIN');
    assert.deepEqual(answerStrings(await queryUdp(port, 'www.example.org', 'A')), ['A 192.0.2.1']);
    assert.deepEqual(upstream.names(), ['udp www.example.org']);
  });

  it('counts a forwarded query under its own verdict in queries_total and under what the client got in forwarded_total', async () => {
    const registry = createRegistry();
    const port = await start({ fallthrough: { zones: [] }, upstreams: [live], metrics: frontendMetrics(registry) });
    await queryUdp(port, 'www.example.org', 'A'); // outside: REFUSED here, NOERROR upstream
    await queryTcp(port, `missing.${Z}`, 'A'); // NXDOMAIN here, NOERROR upstream
    await queryUdp(port, GONE, 'A'); // NXDOMAIN upstream too
    await queryUdp(port, SILENT, 'A'); // no upstream answer: SERVFAIL
    await queryUdp(port, `web.prod.svc.${Z}`, 'A'); // answered here
    const text = await registry.metrics();
    const forwarded = (rcode: string) => sampleValue(text, 'mcsdns_frontend_forwarded_total', { rcode });
    assert.deepEqual([forwarded('NOERROR'), forwarded('NXDOMAIN'), forwarded('SERVFAIL')], [2, 1, 1]);
    const queries = (rcode: string) => sampleValue(text, 'mcsdns_frontend_queries_total', { type: 'A', rcode });
    assert.deepEqual([queries('NOERROR'), queries('REFUSED'), queries('NXDOMAIN')], [1, 3, 1]);
  });

  it('falls through only in the listed zones', async () => {
    const port = await start({ fallthrough: { zones: [`sub.${Z}`] }, upstreams: [live] });
    assert.deepEqual(answerStrings(await queryUdp(port, `x.sub.${Z}`, 'A')), ['A 192.0.2.99']);
    assert.equal(rcode(await queryUdp(port, `missing.${Z}`, 'A')), 'NXDOMAIN');
  });

  it('does not forward names in the zone before every cluster synced (SERVFAIL: the name may exist)', async () => {
    const port = await start({ fallthrough: { zones: [] }, upstreams: [live] }, false);
    upstream.seen.length = 0;
    assert.equal(rcode(await queryUdp(port, `missing.${Z}`, 'A')), 'SERVFAIL');
    assert.deepEqual(answerStrings(await queryUdp(port, 'www.example.org', 'A')), ['A 192.0.2.1']);
    assert.deepEqual(upstream.names(), ['udp www.example.org']);
  });

  it('does not forward zone transfers or other classes in the zone', async () => {
    const port = await start({ fallthrough: { zones: [] }, upstreams: [live] });
    upstream.seen.length = 0;
    assert.equal(rcode(await queryUdp(port, 'example.org', 'AXFR')), 'REFUSED');
    const chaos = dnsPacket.decode(await udpRaw(port, dnsPacket.encode({ type: 'query', id: 5, questions: [{ name: `x.${Z}`, type: 'TXT', class: 'CH' }] })));
    assert.equal(rcode(chaos), 'REFUSED');
    assert.deepEqual(upstream.names(), []);
  });

  it('tries the next upstream after a timeout or an error', async () => {
    const refused = await closedPort();
    const port = await start({ upstreams: [refused, live] });
    assert.deepEqual(answerStrings(await queryUdp(port, 'www.example.org', 'A')), ['A 192.0.2.1']);
    assert.deepEqual(answerStrings(await queryTcp(port, 'www.example.org', 'A')), ['A 192.0.2.1']);

    const hanging = dgram.createSocket('udp4'); // receives, never answers
    await new Promise<void>((resolve) => hanging.bind(0, HOST, resolve));
    try {
      const viaTimeout = await start({ upstreams: [{ host: HOST, port: hanging.address().port }, live] });
      const started = Date.now();
      assert.deepEqual(answerStrings(await queryUdp(viaTimeout, 'www.example.org', 'A')), ['A 192.0.2.1']);
      assert.ok(Date.now() - started >= TIMEOUT_MS - 20, 'the first upstream was waited for');
    } finally {
      hanging.close();
    }
  });

  it('answers SERVFAIL at once beyond the bound of forwarded queries', async () => {
    const port = await start({ upstreams: [live], upstreamMaxInFlight: 1 });
    const slow = queryUdp(port, SILENT, 'A', { id: 1 });
    await new Promise((r) => setTimeout(r, 30));
    const started = Date.now();
    const busy = await queryUdp(port, 'www.example.org', 'A', { id: 2 });
    assert.equal(rcode(busy), 'SERVFAIL');
    assert.ok(Date.now() - started < TIMEOUT_MS, 'not queued behind the slow one');
    assert.equal(rcode(await slow), 'SERVFAIL');
    assert.deepEqual(answerStrings(await queryUdp(port, 'www.example.org', 'A', { id: 3 })), ['A 192.0.2.1'], 'room again once it ended');
  });
});

async function udpRaw(port: number, packet: Buffer): Promise<Buffer> {
  const socket = dgram.createSocket('udp4');
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no UDP answer')), 2000);
      socket.once('message', (msg) => {
        clearTimeout(timer);
        resolve(msg);
      });
      socket.send(packet, port, HOST);
    });
  } finally {
    socket.close();
  }
}
