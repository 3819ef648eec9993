// The frontend over real sockets (UDP and TCP on 127.0.0.1, port 0) with an
// in-memory ViewFeed: truncation, pipelining, malformed packets, the feed's
// snapshots, deltas and gaps, startup, and `dig` as a client.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { promisify } from 'node:util';
import dnsPacket from 'dns-packet';
import { pino } from 'pino';
import { Frontend } from '../services/frontend/server.js';
import type { DnsView, ViewDelta, ViewFeed, ViewListener, ViewRecord } from '../shared/view.js';

const Z = 'clusterset.local';

// dns-packet's decode, with the fields it always sets.
type Decoded = Required<Pick<dnsPacket.DecodedPacket, 'id' | 'questions' | 'answers' | 'authorities' | 'additionals'>> & {
  rcode: string;
  flag_tc: boolean;
};
const decode = (message: Buffer): Decoded => dnsPacket.decode(message) as unknown as Decoded;
const HOST = '127.0.0.1';
const A = (address: string): ViewRecord => ({ type: 'A', address });

// A feed as the aggregator gives it: the current snapshot on subscribe, then
// whatever is published.
class MemoryFeed implements ViewFeed {
  private readonly listeners = new Set<ViewListener>();
  constructor(private view?: DnsView) {}
  subscribe(listener: ViewListener): () => void {
    this.listeners.add(listener);
    if (this.view) listener.snapshot(this.view);
    return () => this.listeners.delete(listener);
  }
  snapshot(view: DnsView): void {
    this.view = view;
    for (const l of this.listeners) l.snapshot(view);
  }
  delta(delta: ViewDelta): void {
    for (const l of this.listeners) l.delta(delta);
  }
}

// A headless service with 60 endpoints: 60 A records do not fit in 512 octets.
const bigTargets = Array.from({ length: 60 }, (_, i) => `pod-${i}.c1.big.prod.svc`);
function testView(version = 1): DnsView {
  const names: Record<string, ViewRecord[]> = { 'big.prod.svc': bigTargets.map((_, i) => A(`10.9.0.${i + 1}`)) };
  bigTargets.forEach((t, i) => (names[t] = [A(`10.9.0.${i + 1}`)]));
  return {
    version,
    clusters: [{ id: 'c1', synced: true }],
    namespaces: ['prod'],
    services: {
      'prod/web': { names: { 'web.prod.svc': [A('10.0.0.10')], '_http._tcp.web.prod.svc': [{ type: 'SRV', priority: 0, weight: 100, port: 80, target: 'web.prod.svc' }] } },
      'prod/big': { names },
    },
  };
}

function encodeQuery(name: string, type: dnsPacket.RecordType, id: number, edns?: number): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type, class: 'IN' }],
    additionals: edns ? [{ type: 'OPT', name: '.', udpPayloadSize: edns } as dnsPacket.Answer] : [],
  });
}

// One datagram out; the reply, or undefined when none came within `waitMs`.
async function udpExchange(port: number, packet: Buffer, waitMs = 1000): Promise<Buffer | undefined> {
  const socket = dgram.createSocket('udp4');
  try {
    return await new Promise<Buffer | undefined>((resolve, reject) => {
      const timer = setTimeout(() => resolve(undefined), waitMs);
      socket.once('message', (msg) => {
        clearTimeout(timer);
        resolve(msg);
      });
      socket.once('error', reject);
      socket.send(packet, port, HOST);
    });
  } finally {
    socket.close();
  }
}

async function udpQuery(port: number, name: string, type: dnsPacket.RecordType, edns?: number): Promise<Decoded> {
  const reply = await udpExchange(port, encodeQuery(name, type, 99, edns));
  assert.ok(reply, `a UDP answer for ${name} ${type}`);
  return decode(reply);
}

// A TCP connection that collects length-prefixed replies.
class TcpClient {
  readonly replies: Buffer[] = [];
  closed = false;
  private data = Buffer.alloc(0);
  private readonly socket: net.Socket;
  private readonly ready: Promise<void>;
  private waiters: (() => void)[] = [];

  constructor(port: number) {
    this.socket = net.connect(port, HOST);
    this.ready = new Promise((resolve, reject) => this.socket.once('connect', resolve).once('error', reject));
    this.socket.on('data', (chunk) => {
      this.data = Buffer.concat([this.data, chunk]);
      while (this.data.length >= 2 && this.data.length >= 2 + this.data.readUInt16BE(0)) {
        this.replies.push(this.data.subarray(2, 2 + this.data.readUInt16BE(0)));
        this.data = this.data.subarray(2 + this.data.readUInt16BE(0));
      }
      this.wake();
    });
    this.socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    this.socket.on('error', () => {});
  }

  async write(bytes: Buffer): Promise<void> {
    await this.ready;
    this.socket.write(bytes);
  }

  // Resolves when `done()` holds, rejects after `ms`.
  async until(done: () => boolean, ms = 2000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`TCP: still waiting (${this.replies.length} replies, closed ${this.closed})`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  close(): void {
    this.socket.destroy();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

const frame = (message: Buffer) => Buffer.concat([Buffer.from([message.length >> 8, message.length & 0xff]), message]);

const run = promisify(execFile);
async function dig(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('dig', [`@${HOST}`, '-p', String(port), '+time=2', '+tries=1', ...args]);
  return stdout;
}

function memoryLogger(): { logger: pino.Logger; lines: { msg: string; level: number }[] } {
  const lines: { msg: string; level: number }[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines };
}

describe('frontend server', () => {
  const feed = new MemoryFeed(testView());
  const { logger, lines } = memoryLogger();
  const frontend = new Frontend(feed, { zones: [Z], listen: { host: HOST, port: 0 }, logger, tcpIdleTimeoutMs: 500 });
  let port = 0;

  before(async () => {
    await frontend.start();
    port = frontend.address.port;
  });
  after(() => frontend.stop());

  it('listens on one port for UDP and TCP and serves the snapshot version', () => {
    assert.ok(port > 0);
    assert.equal(frontend.address.host, HOST);
    assert.equal(frontend.version, 1);
  });

  it('truncates a large headless answer over UDP and gives it whole over TCP', async () => {
    const udp = await udpQuery(port, `big.prod.svc.${Z}`, 'A');
    assert.equal(udp.flag_tc, true);
    assert.deepEqual([udp.answers.length, udp.questions[0]?.name], [0, `big.prod.svc.${Z}`]);

    const tcp = new TcpClient(port);
    await tcp.write(frame(encodeQuery(`big.prod.svc.${Z}`, 'A', 7)));
    await tcp.until(() => tcp.replies.length === 1);
    tcp.close();
    const whole = decode(tcp.replies[0]!);
    assert.equal(whole.flag_tc, false);
    assert.equal(whole.answers.length, 60);
  });

  it('answers pipelined TCP queries in order, also when frames arrive in pieces', async () => {
    const tcp = new TcpClient(port);
    const names = [`web.prod.svc.${Z}`, `nope.${Z}`, `_http._tcp.web.prod.svc.${Z}`, `pod-3.c1.big.prod.svc.${Z}`];
    const types: dnsPacket.RecordType[] = ['A', 'A', 'SRV', 'A'];
    const frames = names.map((n, i) => frame(encodeQuery(n, types[i]!, 100 + i)));
    await tcp.write(Buffer.concat(frames.slice(0, 3)));
    const last = frames[3]!;
    for (const piece of [last.subarray(0, 1), last.subarray(1, 9), last.subarray(9)]) {
      await tcp.write(piece);
      await new Promise((r) => setTimeout(r, 20));
    }
    await tcp.until(() => tcp.replies.length === 4);
    tcp.close();
    const replies = tcp.replies.map((r) => decode(r));
    assert.deepEqual(
      replies.map((r) => [r.id, r.rcode, r.answers.length]),
      [
        [100, 'NOERROR', 1],
        [101, 'NXDOMAIN', 0],
        [102, 'NOERROR', 1],
        [103, 'NOERROR', 1],
      ],
    );
  });

  it('stays silent for garbage, answers FORMERR where a header is readable, then answers normally', async () => {
    assert.equal(await udpExchange(port, Buffer.from('garbage'), 200), undefined);
    const response = encodeQuery(`web.prod.svc.${Z}`, 'A', 5);
    response[2]! |= 0x80;
    assert.equal(await udpExchange(port, response, 200), undefined);
    const noQuestion = encodeQuery(`web.prod.svc.${Z}`, 'A', 6);
    noQuestion.writeUInt16BE(0, 4);
    const formerr = await udpExchange(port, noQuestion);
    assert.ok(formerr);
    assert.deepEqual([formerr.readUInt16BE(0), formerr.readUInt16BE(2) & 0xf], [6, 1]);
    const ok = await udpQuery(port, `web.prod.svc.${Z}`, 'A');
    assert.deepEqual(ok.answers.map((a) => a.type === 'A' && a.data), ['10.0.0.10']);
  });

  it('closes a TCP connection on an unreadable frame, and only that one', async () => {
    const bad = new TcpClient(port);
    const good = new TcpClient(port);
    await good.write(frame(encodeQuery(`web.prod.svc.${Z}`, 'A', 1)));
    await good.until(() => good.replies.length === 1);
    await bad.write(frame(Buffer.from([1, 2, 3])));
    await bad.until(() => bad.closed);
    // A readable header with a bad question is answered, the connection kept.
    const noQuestion = encodeQuery(`web.prod.svc.${Z}`, 'A', 2);
    noQuestion.writeUInt16BE(0, 4);
    await good.write(frame(noQuestion));
    await good.write(frame(encodeQuery(`web.prod.svc.${Z}`, 'A', 3)));
    await good.until(() => good.replies.length === 3);
    assert.deepEqual(
      good.replies.map((r) => [r.readUInt16BE(0), r.readUInt16BE(2) & 0xf]),
      [
        [1, 0],
        [2, 1],
        [3, 0],
      ],
    );
    assert.equal(good.closed, false);
    good.close();
  });

  it('closes an idle TCP connection', async () => {
    const idle = new TcpClient(port);
    await idle.write(Buffer.alloc(0));
    await idle.until(() => idle.closed, 3000);
  });

  it('answers dig over TCP and UDP, keeping the letter case', async () => {
    const tcp = await dig(port, `Web.PROD.svc.ClusterSet.Local`, 'A', '+tcp');
    assert.match(tcp, /status: NOERROR/);
    assert.match(tcp, /flags: qr aa rd;/);
    assert.match(tcp, /^Web\.PROD\.svc\.ClusterSet\.Local\.\s+5\s+IN\s+A\s+10\.0\.0\.10$/m);
    assert.match(tcp, /\(TCP\)/);
    const udp = await dig(port, `_HTTP._tcp.web.prod.svc.${Z}`, 'SRV', '+notcp');
    assert.match(udp, /^_HTTP\._tcp\.web\.prod\.svc\.clusterset\.local\.\s+5\s+IN\s+SRV\s+0 100 80 web\.prod\.svc\.clusterset\.local\.$/m);
    assert.match(udp, /ADDITIONAL SECTION:\nweb\.prod\.svc\.clusterset\.local\.\s+5\s+IN\s+A\s+10\.0\.0\.10/);
    assert.match(udp, /\(UDP\)/);
    assert.match(udp, /EDNS: version: 0, flags:; udp: 1232/);
    const nx = await dig(port, `nope.${Z}`, 'A');
    assert.match(nx, /status: NXDOMAIN/);
    assert.match(nx, /AUTHORITY SECTION:\nclusterset\.local\.\s+5\s+IN\s+SOA\s+ns\.dns\.clusterset\.local\. hostmaster\.clusterset\.local\. 1 7200 1800 86400 5/);
    assert.match(await dig(port, 'example.com', 'A'), /status: REFUSED/);
  });

  it('lets dig retry a truncated answer over TCP, or take it over UDP with +bufsize', async () => {
    const retried = await dig(port, `big.prod.svc.${Z}`, 'A', '+noedns');
    assert.match(retried, /Truncated, retrying in TCP mode/);
    assert.match(retried, /ANSWER: 60,/);
    const big = await dig(port, `big.prod.svc.${Z}`, 'A', '+bufsize=4096');
    assert.doesNotMatch(big, /Truncated/);
    assert.match(big, /ANSWER: 60,/);
    assert.match(big, /\(UDP\)/);
    const small = await dig(port, `big.prod.svc.${Z}`, 'A', '+bufsize=512', '+ignore');
    assert.match(small, /flags: qr aa tc rd;/);
  });

  it('follows deltas, logs a gap and ignores deltas until the next snapshot', async () => {
    const move = (from: number, to: number, address: string): ViewDelta => ({ from, to, services: { upsert: { 'prod/web': { names: { 'web.prod.svc': [A(address)] } } }, remove: [] } });
    const webA = async () => (await udpQuery(port, `web.prod.svc.${Z}`, 'A')).answers.map((a) => a.type === 'A' && a.data);

    feed.delta(move(1, 2, '10.0.0.11'));
    assert.equal(frontend.version, 2);
    assert.deepEqual(await webA(), ['10.0.0.11']);

    feed.delta(move(5, 6, '10.0.0.12')); // versions 3 and 4 never came
    assert.ok(lines.some((l) => l.level === 40 && /does not follow/.test(l.msg)));
    feed.delta(move(2, 3, '10.0.0.13')); // would apply, but the gap is only healed by a snapshot
    assert.equal(frontend.version, 2);
    assert.deepEqual(await webA(), ['10.0.0.11']);

    feed.snapshot({ ...testView(6), services: { 'prod/web': { names: { 'web.prod.svc': [A('10.0.0.12')] } } } });
    assert.equal(frontend.version, 6);
    assert.deepEqual(await webA(), ['10.0.0.12']);
    feed.delta(move(6, 7, '10.0.0.14'));
    assert.deepEqual(await webA(), ['10.0.0.14']);
  });

  it('refuses a second frontend on the same port with one clear line', async () => {
    const second = new Frontend(new MemoryFeed(testView()), { zones: [Z], listen: { host: HOST, port } });
    await assert.rejects(second.start(), (err: Error) => {
      assert.equal(err.message, `DNS frontend cannot listen on ${HOST}:${port}: address already in use`);
      return true;
    });
    await second.stop();
  });
});

describe('frontend server: IPv6', () => {
  it('answers on an IPv6 address over UDP and TCP', async (t) => {
    const frontend = new Frontend(new MemoryFeed(testView()), { zones: [Z], listen: { host: '::1', port: 0 } });
    try {
      await frontend.start();
    } catch (err) {
      t.skip(`no IPv6 loopback here: ${(err as Error).message}`);
      return;
    }
    try {
      const port = frontend.address.port;
      const socket = dgram.createSocket('udp6');
      const reply = await new Promise<Buffer>((resolve) => {
        socket.once('message', resolve);
        socket.send(encodeQuery(`web.prod.svc.${Z}`, 'A', 3), port, '::1');
      });
      socket.close();
      assert.deepEqual(decode(reply).answers.map((a) => a.type === 'A' && a.data), ['10.0.0.10']);
      assert.match(await run('dig', ['@::1', '-p', String(port), '+tcp', '+short', `web.prod.svc.${Z}`, 'A']).then((r) => r.stdout), /^10\.0\.0\.10$/m);
    } finally {
      await frontend.stop();
    }
  });
});

describe('frontend server: startup', () => {
  it('opens its port after the startup timeout without a snapshot and answers SERVFAIL until one comes', async () => {
    const feed = new MemoryFeed();
    const frontend = new Frontend(feed, { zones: [Z], listen: { host: HOST, port: 0 }, startupTimeoutMs: 300 });
    const started = Date.now();
    await frontend.start();
    try {
      assert.ok(Date.now() - started >= 290, 'waited for a snapshot first');
      assert.equal(frontend.version, undefined);
      const port = frontend.address.port;
      assert.equal((await udpQuery(port, `web.prod.svc.${Z}`, 'A')).rcode, 'SERVFAIL');
      assert.equal((await udpQuery(port, Z, 'SOA')).rcode, 'SERVFAIL');
      assert.equal((await udpQuery(port, 'example.com', 'A')).rcode, 'REFUSED');
      feed.delta({ from: 0, to: 1, services: { upsert: {}, remove: [] } }); // nothing to apply it to
      feed.snapshot(testView(3));
      assert.equal(frontend.version, 3);
      assert.equal((await udpQuery(port, `web.prod.svc.${Z}`, 'A')).rcode, 'NOERROR');
    } finally {
      await frontend.stop();
    }
  });

  it('does not open its port when stopped while waiting for a snapshot', async () => {
    const frontend = new Frontend(new MemoryFeed(), { zones: [Z], listen: { host: HOST, port: 0 }, startupTimeoutMs: 5000 });
    const started = Date.now();
    const starting = frontend.start();
    setTimeout(() => void frontend.stop(), 50);
    await starting;
    assert.ok(Date.now() - started < 2000);
    assert.equal(frontend.address.port, 0);
  });

  it('starts as soon as the first snapshot arrives', async () => {
    const feed = new MemoryFeed();
    const frontend = new Frontend(feed, { zones: [Z], listen: { host: HOST, port: 0 }, startupTimeoutMs: 5000 });
    const started = Date.now();
    setTimeout(() => feed.snapshot(testView(9)), 100);
    await frontend.start();
    try {
      assert.ok(Date.now() - started < 2000);
      assert.equal(frontend.version, 9);
      assert.equal((await udpQuery(frontend.address.port, `web.prod.svc.${Z}`, 'A')).rcode, 'NOERROR');
    } finally {
      await frontend.stop();
    }
  });
});
