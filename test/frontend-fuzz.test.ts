// Fuzzing the query path: random and mutated packets (truncated headers,
// pointer loops, huge counts, bad labels, EDNS oddities, flipped bits) through
// respond() directly, then a sample over real UDP and TCP sockets against a
// running Frontend. Nothing may throw; a packet without a header or with QR
// set gets no answer, every other one exactly one well-formed message that
// echoes its id. Seeded: FUZZ_SEED=<n> replays a run.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import { pino } from 'pino';
import { compileAnswers, pendingAnswers, type AnswerTable } from '../services/frontend/answers.js';
import { respond, sizeLimit, type Transport } from '../services/frontend/respond.js';
import { Frontend } from '../services/frontend/server.js';
import { parseQuery } from '../services/frontend/wire.js';
import type { DnsView, ViewFeed, ViewRecord } from '../shared/view.js';
import { Z, encodeQuery, rawRecords, writtenName } from './frontend-messages.js';
import { seededRandom } from './support/random.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20240611);
const DIRECT_PACKETS = 100_000;
const SOCKET_PACKETS = 5_000; // over UDP, and as many over TCP

const A = (address: string): ViewRecord => ({ type: 'A', address });

// A headless service with `count` dual-stack endpoints and one named port.
function headless(service: string, count: number): Record<string, ViewRecord[]> {
  const pods = Array.from({ length: count }, (_, i) => `pod-${i}.c1.${service}.prod.svc`);
  const names: Record<string, ViewRecord[]> = {
    [`${service}.prod.svc`]: pods.map((_, i) => A(`10.1.0.${i}`)),
    [`_pg._tcp.${service}.prod.svc`]: pods.map((target) => ({ type: 'SRV', priority: 0, weight: 3, port: 5432, target })),
  };
  pods.forEach((p, i) => (names[p] = [A(`10.1.0.${i}`), { type: 'AAAA', address: `fd00::${i}` }]));
  return names;
}

// db's SRV records do not fit 1232 octets; mid's do, but not all their addresses.
function testView(): DnsView {
  return {
    version: 7,
    clusters: [{ id: 'c1', synced: true }],
    namespaces: ['prod'],
    services: {
      'prod/web': { names: { 'web.prod.svc': [A('10.0.0.10'), { type: 'AAAA', address: 'fd00::10' }, { type: 'SRV', priority: 0, weight: 100, port: 80, target: 'web.prod.svc' }] } },
      'prod/db': { names: headless('db', 30) },
      'prod/mid': { names: headless('mid', 16) },
    },
  };
}

const NAMES = [`web.prod.svc.${Z}`, `WeB.PROD.svc.${Z}`, `db.prod.svc.${Z}`, `_pg._tcp.db.prod.svc.${Z}`, `_pg._tcp.mid.prod.svc.${Z}`, `pod-3.c1.db.prod.svc.${Z}`, `prod.svc.${Z}`, `nope.${Z}`, Z, `dns-version.${Z}`, 'example.com', '.', `${'x'.repeat(63)}.${Z}`];
const TYPES = ['A', 'AAAA', 'SRV', 'ANY', 'TXT', 'SOA', 'NS', 'AXFR', 'IXFR', 'MX', 'OPT', 'CAA'];

// Packet makers: each takes the PRNG and gives one packet.
type Maker = (random: () => number) => Buffer;
const pick = <T>(random: () => number, list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
const int = (random: () => number, below: number) => Math.floor(random() * below);
const randomBytes = (random: () => number, n: number) => Buffer.from(Array.from({ length: n }, () => int(random, 256)));

function validQuery(random: () => number): Buffer {
  const edns = pick(random, [undefined, undefined, 512, 1232, 4096, 100, 65535]);
  return encodeQuery(pick(random, NAMES), pick(random, TYPES), {
    id: int(random, 65536),
    rd: random() < 0.5,
    ...(edns ? { edns, ednsVersion: random() < 0.1 ? 1 + int(random, 255) : 0 } : {}),
    ...(edns && random() < 0.3 ? { ednsOptions: [{ code: int(random, 65536), data: randomBytes(random, int(random, 20)) }] } : {}),
  });
}

// A valid query whose question name is replaced by `name` octets.
const withName = (random: () => number, name: Buffer): Buffer => {
  const q = validQuery(random);
  return Buffer.concat([q.subarray(0, 12), name, Buffer.from([0, int(random, 256), 0, 1])]);
};

const MAKERS: [string, Maker][] = [
  ['valid query', validQuery],
  ['random bytes', (r) => randomBytes(r, int(r, 600))],
  ['short packet', (r) => randomBytes(r, int(r, 14))],
  ['truncated query', (r) => {
    const q = validQuery(r);
    return q.subarray(0, int(r, q.length));
  }],
  ['flipped bits', (r) => {
    const q = validQuery(r);
    for (let i = 1 + int(r, 8); i > 0; i--) q[int(r, q.length)]! ^= 1 << int(r, 8);
    return q;
  }],
  ['huge counts', (r) => {
    const q = validQuery(r);
    for (const at of [4, 6, 8, 10]) if (r() < 0.5) q.writeUInt16BE(r() < 0.5 ? 0xffff : int(r, 65536), at);
    return q;
  }],
  ['pointer loop in the question', (r) => withName(r, Buffer.from(pick(r, [[0xc0, 12], [3, 97, 98, 99, 0xc0, 12], [0xc0, 13], [1, 97, 0xff, 0xff]])))],
  ['bad label lengths', (r) => withName(r, Buffer.concat([Buffer.from([64 + int(r, 192)]), randomBytes(r, int(r, 80)), Buffer.from([0])]))],
  ['overlong name', (r) => withName(r, Buffer.concat([...Array.from({ length: 5 }, () => Buffer.concat([Buffer.from([63]), randomBytes(r, 63)])), Buffer.from([0])]))],
  ['random labels', (r) => withName(r, Buffer.concat([...Array.from({ length: int(r, 6) }, () => {
    const n = 1 + int(r, 63);
    return Buffer.concat([Buffer.from([n]), randomBytes(r, n)]);
  }), Buffer.from([0])]))],
  ['extra OPT records', (r) => {
    const q = encodeQuery(pick(r, NAMES), 'A', { id: int(r, 65536), edns: 1232 });
    const opt = q.subarray(q.length - 11);
    const copies = 1 + int(r, 3);
    const out = Buffer.concat([q, ...Array.from({ length: copies }, () => opt)]);
    out.writeUInt16BE(1 + copies, 10);
    return out;
  }],
  ['garbage after the question', (r) => Buffer.concat([validQuery(r), randomBytes(r, int(r, 100))])],
  ['random header, valid question', (r) => Buffer.concat([randomBytes(r, 12), validQuery(r).subarray(12)])],
];

function makePacket(random: () => number): { kind: string; packet: Buffer } {
  const [kind, make] = pick(random, MAKERS);
  return { kind, packet: make(random) };
}

const deservesSilence = (packet: Buffer): boolean => packet.length < 12 || (packet[2]! & 0x80) !== 0;

// Every check a response passes, whatever the query.
function checkResponse(query: Buffer, response: Buffer, transport: Transport, what: string): void {
  assert.ok(response.length >= 12, `${what}: a header`);
  assert.equal(response.readUInt16BE(0), query.readUInt16BE(0), `${what}: the id echoed`);
  const flags = response.readUInt16BE(2);
  assert.ok(flags & 0x8000, `${what}: QR`);
  assert.equal(flags & 0x7800, query.readUInt16BE(2) & 0x7800, `${what}: the opcode echoed`);
  assert.equal(flags & 0x0080, 0, `${what}: RA never set`);
  const parsed = parseQuery(query);
  const limit = parsed.kind === 'query' ? sizeLimit(transport, parsed.edns) : 512;
  assert.ok(response.length <= limit, `${what}: ${response.length} octets within ${limit}`);
  const qdcount = response.readUInt16BE(4);
  if (qdcount === 1) {
    const questionEnd = writtenName(response, 12).end + 4;
    assert.deepEqual(response.subarray(12, questionEnd), query.subarray(12, questionEnd), `${what}: the question copied`);
  } else assert.equal(response.length, 12, `${what}: no question, header only`);
  for (const r of rawRecords(response)) {
    if (r.owner.length === 2 && r.owner[0]! >= 0xc0) assert.ok((((r.owner[0]! & 0x3f) << 8) | r.owner[1]!) < r.at, `${what}: pointers point back`);
  }
  const decoded = dnsPacket.decode(response);
  const counts = [decoded.questions, decoded.answers, decoded.authorities, decoded.additionals].map((s) => s?.length ?? 0);
  assert.deepEqual(counts, [4, 6, 8, 10].map((at) => response.readUInt16BE(at)), `${what}: counts match the records`);
}

const describePacket = (kind: string, packet: Buffer, i: number) => `packet ${i} (${kind}, seed ${SEED}): ${packet.toString('hex')}`;

describe('fuzz: respond()', () => {
  const tables: AnswerTable[] = [compileAnswers(testView(), [Z, `east.${Z}`], 5), compileAnswers(testView(), [Z], 5, { maxEndpoints: 3 }), pendingAnswers([Z], 5)];

  it(`answers ${DIRECT_PACKETS} packets without throwing, each with one well-formed message or, when due, silence`, (t) => {
    const random = seededRandom(SEED);
    const kinds = new Map<string, number>();
    const rcodes = new Map<number | 'silence', number>();
    for (let i = 0; i < DIRECT_PACKETS; i++) {
      const { kind, packet } = makePacket(random);
      const transport: Transport = random() < 0.5 ? 'udp' : 'tcp';
      const what = describePacket(kind, packet, i);
      let response: Buffer | undefined;
      assert.doesNotThrow(() => (response = respond(packet, tables[i % tables.length]!, transport)), what);
      assert.equal(response === undefined, deservesSilence(packet), `${what}: silent exactly when there is no header or QR is set`);
      if (response) checkResponse(packet, response, transport, what);
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
      const rcode = response ? response.readUInt16BE(2) & 0xf : 'silence';
      rcodes.set(rcode, (rcodes.get(rcode) ?? 0) + 1);
    }
    t.diagnostic(`seed ${SEED}; by rcode: ${JSON.stringify([...rcodes])}`);
    for (const [kind] of MAKERS) assert.ok((kinds.get(kind) ?? 0) > 1000, `${kind} generated`);
    for (const rcode of ['silence', 0, 1, 2, 3, 4, 5] as const) assert.ok((rcodes.get(rcode) ?? 0) > 500, `${rcode} seen`);
  });
});

class MemoryFeed implements ViewFeed {
  subscribe(listener: Parameters<ViewFeed['subscribe']>[0]): () => void {
    listener.snapshot(testView());
    return () => {};
  }
}

describe('fuzz: a running Frontend over UDP and TCP', () => {
  const errors: string[] = [];
  const logger = pino({ level: 'error' }, { write: (line: string) => void errors.push(line) });
  const frontend = new Frontend(new MemoryFeed(), { zones: [Z], listen: { host: '127.0.0.1', port: 0 }, logger });
  let port = 0;
  // A query that marks where the replies to one fuzzed packet end.
  const sentinel = (id: number) => encodeQuery(`sentinel.${Z}`, 'A', { id });
  const isSentinel = (reply: Buffer, id: number) => reply.length > 12 && reply.readUInt16BE(0) === id && reply.includes('\x08sentinel', 12, 'latin1');

  before(async () => {
    await frontend.start();
    port = frontend.address.port;
  });
  after(() => frontend.stop());

  it(`answers ${SOCKET_PACKETS} fuzzed datagrams one by one, and stays silent where due`, async () => {
    const random = seededRandom(SEED + 1);
    const socket = dgram.createSocket('udp4');
    const replies: Buffer[] = [];
    let wake: (() => void) | undefined;
    socket.on('message', (reply) => {
      replies.push(reply);
      wake?.();
    });
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    try {
      for (let i = 0; i < SOCKET_PACKETS; i++) {
        const { kind, packet } = makePacket(random);
        if (packet.length === 0) continue; // an empty datagram is no DNS at all
        const what = describePacket(kind, packet, i);
        const id = i & 0xffff;
        socket.send(packet, port, '127.0.0.1');
        socket.send(sentinel(id), port, '127.0.0.1');
        const deadline = Date.now() + 2000;
        while (!replies.some((r) => isSentinel(r, id))) {
          assert.ok(Date.now() < deadline, `${what}: the sentinel after it is answered`);
          await new Promise<void>((resolve) => {
            wake = resolve;
            setTimeout(resolve, 100);
          });
        }
        const before = replies.splice(0).filter((r) => !isSentinel(r, id));
        assert.equal(before.length, deservesSilence(packet) ? 0 : 1, `${what}: replies`);
        if (before[0]) checkResponse(packet, before[0], 'udp', what);
      }
    } finally {
      socket.close();
    }
  });

  it(`answers ${SOCKET_PACKETS} fuzzed TCP frames, pipelined, and stays silent where due`, async () => {
    const random = seededRandom(SEED + 2);
    const packets = Array.from({ length: SOCKET_PACKETS }, (_, i) => ({ ...makePacket(random), i }));
    // Answerable frames go pipelined in batches; a frame due silence goes
    // alone, as the server may close its connection on it.
    for (let at = 0; at < packets.length; ) {
      const silent = deservesSilence(packets[at]!.packet);
      let end = at + 1;
      while (!silent && end < packets.length && end - at < 50 && !deservesSilence(packets[end]!.packet)) end++;
      const batch = packets.slice(at, end);
      at = end;
      const id = end & 0xffff;
      const replies = await tcpExchange(port, Buffer.concat([...batch.map((b) => frame(b.packet)), frame(sentinel(id))]));
      const answers = replies.filter((r) => !isSentinel(r, id));
      const what = batch.map((b) => describePacket(b.kind, b.packet, b.i)).join('\n');
      assert.equal(answers.length, silent ? 0 : batch.length, `replies to ${what}`);
      answers.forEach((reply, k) => checkResponse(batch[k]!.packet, reply, 'tcp', describePacket(batch[k]!.kind, batch[k]!.packet, batch[k]!.i)));
      if (!silent) assert.ok(replies.some((r) => isSentinel(r, id)), `the sentinel after ${what}`);
    }
  });

  it('logged no failure and still answers normal queries correctly', async () => {
    assert.deepEqual(errors, []);
    const udp = await new Promise<Buffer>((resolve) => {
      const socket = dgram.createSocket('udp4');
      socket.once('message', (reply) => {
        socket.close();
        resolve(reply);
      });
      socket.send(encodeQuery(`web.prod.svc.${Z}`, 'A', { id: 77 }), port, '127.0.0.1');
    });
    const [tcp] = await tcpExchange(port, Buffer.concat([frame(encodeQuery(`web.prod.svc.${Z}`, 'AAAA', { id: 78 })), frame(sentinel(79))]));
    for (const [reply, id, data] of [[udp, 77, '10.0.0.10'], [tcp, 78, 'fd00::10']] as const) {
      assert.ok(reply);
      const p = dnsPacket.decode(reply);
      assert.deepEqual([p.id, (p as { rcode?: string }).rcode, p.answers?.map((a) => (a as { data: string }).data)], [id, 'NOERROR', [data]]);
    }
  });
});

// Long: every exchange ends with the sentinel's reply or a close, and a loaded
// machine may not run this process for a good part of a second.
const QUIET_MS = 5000;

const frame = (message: Buffer) => Buffer.concat([Buffer.from([message.length >> 8, message.length & 0xff]), message]);

// Writes `data` on a new connection and collects the replies until the
// sentinel's or until the server closes it; a server quiet for QUIET_MS, a
// failure, ends it too, leaving the replies short.
function tcpExchange(port: number, data: Buffer): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const replies: Buffer[] = [];
    let pending = Buffer.alloc(0);
    let quiet: NodeJS.Timeout | undefined;
    const socket = net.connect(port, '127.0.0.1', () => socket.write(data));
    const done = () => {
      clearTimeout(quiet);
      socket.destroy();
      resolve(replies);
    };
    const wait = () => {
      clearTimeout(quiet);
      quiet = setTimeout(done, QUIET_MS);
    };
    socket.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        replies.push(pending.subarray(2, 2 + pending.readUInt16BE(0)));
        pending = pending.subarray(2 + pending.readUInt16BE(0));
      }
      if (replies.some((r) => r.includes('\x08sentinel', 12, 'latin1'))) done();
      else wait();
    });
    socket.on('close', done);
    socket.on('error', reject);
    wait();
  });
}
