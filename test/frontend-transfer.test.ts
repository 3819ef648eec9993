// Zone transfers (RFC 5936, IXFR per RFC 1995) built by transferMessages:
// the messages decoded by dns-packet, and read by kdig and dig through a
// minimal TCP server in this test (the Frontend's own wiring is server.ts's).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';
import dnsPacket from 'dns-packet';
import { applyDelta, compileAnswers, pendingAnswers, type AnswerTable } from '../services/frontend/answers.js';
import { respond } from '../services/frontend/respond.js';
import { MAX_TRANSFER_MESSAGE, isTransferRequest, transferMessages } from '../services/frontend/transfer.js';
import { parseQuery } from '../services/frontend/wire.js';
import type { DnsView, ViewRecord } from '../shared/view.js';
import { Z, decode, encodeQuery, optsOf, rawRecords, show, writtenName, type Decoded } from './frontend-messages.js';

const A = (address: string): ViewRecord => ({ type: 'A', address });
const AAAA = (address: string): ViewRecord => ({ type: 'AAAA', address });
const SRV = (port: number, target: string, weight = 100): ViewRecord => ({ type: 'SRV', priority: 0, weight, port, target });

function testView(version = 42, extraServices = 0): DnsView {
  const view: DnsView = {
    version,
    clusters: [{ id: 'c1', synced: true }],
    namespaces: ['prod'],
    services: {
      'prod/web': {
        names: {
          'web.prod.svc': [A('10.0.0.10'), AAAA('fd00::10'), SRV(80, 'web.prod.svc')],
          '_http._tcp.web.prod.svc': [SRV(80, 'web.prod.svc')],
        },
      },
      'prod/db': {
        names: {
          'db.prod.svc': [A('10.1.0.1'), SRV(5432, 'db-0.c1.db.prod.svc')],
          '_pg._tcp.db.prod.svc': [SRV(5432, 'db-0.c1.db.prod.svc')],
          'db-0.c1.db.prod.svc': [A('10.1.0.1')],
        },
      },
      // What compileAnswers leaves out, a transfer leaves out too.
      'prod/bad': { names: { 'bad.prod.svc': [A('10.0.0.300'), A('10.0.0.30'), SRV(70000, 'bad.prod.svc')], 'Bad Name.prod.svc': [A('10.0.0.31')] } },
    },
  };
  for (let i = 0; i < extraServices; i++) view.services[`prod/s${i}`] = { names: { [`service-number-${i}.prod.svc`]: [A(`10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`)] } };
  return view;
}

const soa = (serial: number, zone = Z) => `${zone} 5 SOA ns.dns.${zone} hostmaster.${zone} ${serial} 7200 1800 86400 5`;
const zoneRecords = (zone = Z) => [
  `${zone} 5 NS ns.dns.${zone}`,
  `dns-version.${zone} 28800 TXT "1.0.0"`,
  `web.prod.svc.${zone} 5 A 10.0.0.10`,
  `web.prod.svc.${zone} 5 AAAA fd00::10`,
  `web.prod.svc.${zone} 5 SRV 0 100 80 web.prod.svc.${zone}`,
  `_http._tcp.web.prod.svc.${zone} 5 SRV 0 100 80 web.prod.svc.${zone}`,
  `db.prod.svc.${zone} 5 A 10.1.0.1`,
  `db.prod.svc.${zone} 5 SRV 0 100 5432 db-0.c1.db.prod.svc.${zone}`,
  `_pg._tcp.db.prod.svc.${zone} 5 SRV 0 100 5432 db-0.c1.db.prod.svc.${zone}`,
  `db-0.c1.db.prod.svc.${zone} 5 A 10.1.0.1`,
  `bad.prod.svc.${zone} 5 A 10.0.0.30`,
];

function transfer(table: AnswerTable, packet: Buffer): Decoded[] {
  const messages = transferMessages(table, packet);
  assert.ok(messages, 'a transfer');
  for (const m of messages) assert.ok(m.length <= MAX_TRANSFER_MESSAGE, `${m.length} octets`);
  return messages.map(decode);
}

// Every record of a transfer in order, and the checks every message passes.
function records(messages: Decoded[], id = 0x1234): string[] {
  messages.forEach((m, i) => {
    assert.equal(m.id, id, 'each message has the query’s id');
    assert.equal(m.rcode, 'NOERROR');
    assert.equal(m.flag_aa, true);
    assert.equal(m.flag_tc, false);
    if (i === 0) assert.equal(m.questions.length, 1, 'the first message has the question');
    assert.deepEqual([m.authorities.length], [0]);
  });
  return messages.flatMap((m) => m.answers.map(show));
}

describe('zone transfers: transferMessages', () => {
  const table = compileAnswers(testView(), [Z, `east.${Z}`], 5);

  it('sends the SOA, every record of the zone, and the SOA again', () => {
    const all = records(transfer(table, encodeQuery(Z, 'AXFR')));
    assert.equal(all[0], soa(42));
    assert.equal(all.at(-1), soa(42));
    assert.deepEqual(all.slice(1, -1).sort(), zoneRecords().sort());
  });

  it('transfers each zone with its own names, the question’s letter case kept', () => {
    const east = `east.${Z}`;
    const all = records(transfer(table, encodeQuery(east, 'AXFR')));
    assert.deepEqual(all.slice(1, -1).sort(), zoneRecords(east).sort());
    const upper = transfer(table, encodeQuery(Z.toUpperCase(), 'AXFR'));
    assert.equal(upper[0]?.questions[0]?.name, Z.toUpperCase());
    assert.equal(upper[0]?.answers[0]?.name, Z.toUpperCase());
  });

  it('writes SRV targets in full and compresses owner names', () => {
    const [message] = transferMessages(table, encodeQuery(Z, 'AXFR'))!;
    assert.ok(message);
    for (const r of rawRecords(message)) {
      if (r.type === 33) assert.equal(writtenName(message, r.dataAt + 6).end, r.dataAt + r.dataLength);
      if (r.type === 33) assert.equal(writtenName(message, r.dataAt + 6).octets.at(-1), 0);
      assert.ok(r.owner.length <= 2 + 'service-number-0'.length + 1, 'owners end in pointers');
    }
  });

  it('splits a large zone into messages of at most 16 KiB, the question in each', () => {
    const big = compileAnswers(testView(7, 3000), [Z], 5);
    const messages = transfer(big, encodeQuery(Z, 'AXFR'));
    assert.ok(messages.length >= 3, `${messages.length} messages`);
    const all = records(messages);
    assert.equal(all.length, 2 + zoneRecords().length + 3000);
    assert.deepEqual([all[0], all.at(-1)], [soa(7), soa(7)]);
    assert.equal(new Set(all.slice(1, -1)).size, all.length - 2, 'no record twice');
    for (const m of messages) assert.equal(m.questions.length, 1);
    const sizes = transferMessages(big, encodeQuery(Z, 'AXFR'))!.map((m) => m.length);
    for (const size of sizes.slice(0, -1)) assert.ok(size > MAX_TRANSFER_MESSAGE - 1000, `${size} octets: messages are filled`);
  });

  it('follows deltas: the serial and the records of the current version', () => {
    const t = compileAnswers(testView(), [Z], 5);
    applyDelta(t, { from: 42, to: 50, services: { upsert: { 'prod/web': { names: { 'web.prod.svc': [A('10.0.0.99')] } } }, remove: ['prod/db', 'prod/bad'] } });
    assert.deepEqual(records(transfer(t, encodeQuery(Z, 'AXFR'))), [soa(50), `${Z} 5 NS ns.dns.${Z}`, `dns-version.${Z} 28800 TXT "1.0.0"`, `web.prod.svc.${Z} 5 A 10.0.0.99`, soa(50)]);
  });

  it('answers IXFR with the whole zone, or with the SOA alone when the client has this serial or a newer one', () => {
    const ixfr = (serial: number) =>
      dnsPacket.encode({
        type: 'query',
        id: 0x1234,
        questions: [{ name: Z, type: 'IXFR', class: 'IN' }],
        authorities: [{ type: 'SOA', name: Z, ttl: 5, data: { mname: 'a', rname: 'b', serial, refresh: 1, retry: 1, expire: 1, minimum: 1 } }],
      });
    const cases: [string, Buffer, number][] = [
      ['an older serial', ixfr(41), zoneRecords().length + 2],
      ['serial 0', ixfr(0), zoneRecords().length + 2],
      ['no SOA', encodeQuery(Z, 'IXFR'), zoneRecords().length + 2],
      ['this serial', ixfr(42), 1],
      ['a newer serial', ixfr(43), 1],
      ['a serial just under 2^31 ahead: newer (RFC 1982)', ixfr(42 + 2 ** 31 - 1), 1],
      ['a serial more than 2^31 ahead: older (RFC 1982)', ixfr(42 + 2 ** 31 + 1), zoneRecords().length + 2],
    ];
    for (const [what, packet, count] of cases) {
      const all = records(transfer(table, packet));
      assert.equal(all.length, count, what);
      assert.equal(all[0], soa(42), what);
    }
  });

  it('puts OPT in every message when the query has one', () => {
    const big = compileAnswers(testView(7, 1500), [Z], 5);
    const messages = transfer(big, encodeQuery(Z, 'AXFR', { edns: 4096 }));
    assert.ok(messages.length >= 2);
    for (const m of messages) assert.deepEqual(optsOf(m).map((o) => o.udpPayloadSize), [1232]);
    assert.equal(records(messages).length, 2 + zoneRecords().length + 1500);
  });

  it('answers SERVFAIL, with the question, before the first snapshot and while a cluster has not synced', () => {
    const unsynced = compileAnswers({ ...testView(), clusters: [{ id: 'c1', synced: false }] }, [Z], 5);
    for (const t of [pendingAnswers([Z], 5), unsynced]) {
      const messages = transfer(t, encodeQuery(Z, 'AXFR'));
      assert.equal(messages.length, 1);
      assert.deepEqual([messages[0]!.rcode, messages[0]!.questions.length, messages[0]!.answers.length], ['SERVFAIL', 1, 0]);
    }
  });

  it('is not a transfer for other names, classes and types: undefined', () => {
    const packets: [string, Buffer][] = [
      ['a name below the apex', encodeQuery(`prod.svc.${Z}`, 'AXFR')],
      ['a name outside the zones', encodeQuery('example.com', 'AXFR')],
      ['the parent of the zone', encodeQuery('local', 'AXFR')],
      ['class CH', encodeQuery(Z, 'AXFR', { qclass: 'CH' })],
      ['an SOA query', encodeQuery(Z, 'SOA')],
      ['EDNS version 1 (respond() says BADVERS)', encodeQuery(Z, 'AXFR', { edns: 1232, ednsVersion: 1 })],
      ['garbage', Buffer.from('garbage')],
    ];
    for (const [what, packet] of packets) assert.equal(transferMessages(table, packet), undefined, what);
  });

  it('tells transfer requests apart, and respond() refuses them (as over UDP)', () => {
    assert.equal(isTransferRequest(parseQuery(encodeQuery(Z, 'AXFR'))), true);
    assert.equal(isTransferRequest(parseQuery(encodeQuery(`web.prod.svc.${Z}`, 'IXFR'))), true);
    assert.equal(isTransferRequest(parseQuery(encodeQuery(Z, 'SOA'))), false);
    assert.equal(isTransferRequest(parseQuery(Buffer.from('x'))), false);
    const refused = decode(respond(encodeQuery(Z, 'AXFR'), table, 'udp')!);
    assert.deepEqual([refused.rcode, refused.answers.length], ['REFUSED', 0]);
  });
});

// Length-prefixed transferMessages for every frame, as a server would send them.
function transferServer(table: AnswerTable): net.Server {
  return net.createServer((socket) => {
    let pending = Buffer.alloc(0);
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const frame = pending.subarray(2, 2 + pending.readUInt16BE(0));
        pending = pending.subarray(2 + frame.length);
        const messages = transferMessages(table, frame) ?? [respond(frame, table, 'tcp') ?? Buffer.alloc(0)];
        for (const m of messages) socket.write(Buffer.concat([Buffer.from([m.length >> 8, m.length & 0xff]), m]));
      }
    });
  });
}

describe('zone transfers: kdig and dig as clients', () => {
  const run = promisify(execFile);
  const table = compileAnswers(testView(42, 2000), [Z], 5);
  const server = transferServer(table);
  let port = 0;

  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  // The records of a client's zone-file output, without comments.
  const zoneLines = (stdout: string) => stdout.split('\n').filter((l) => l.trim() !== '' && !l.startsWith(';'));

  it('kdig AXFR reads the whole zone across messages', async () => {
    const { stdout } = await run('kdig', ['-p', String(port), '@127.0.0.1', 'AXFR', Z, '+time=3']);
    const lines = zoneLines(stdout);
    assert.equal(lines.length, 2 + zoneRecords().length + 2000, stdout.slice(-500));
    assert.match(lines[0]!, /^clusterset\.local\.\s+5\s+IN\s+SOA\s+ns\.dns\.clusterset\.local\. hostmaster\.clusterset\.local\. 42 /);
    assert.match(stdout, /_http\._tcp\.web\.prod\.svc\.clusterset\.local\.\s+5\s+IN\s+SRV\s+0 100 80 web\.prod\.svc\.clusterset\.local\./);
    assert.match(stdout, /Received \d+ B \((\d+) messages, \d+ records\)/);
    assert.ok(Number(stdout.match(/\((\d+) messages/)?.[1]) >= 2);
    assert.doesNotMatch(stdout, /WARNING|error/i);
  });

  it('dig AXFR and IXFR read it too', async () => {
    const axfr = await run('dig', [`@127.0.0.1`, '-p', String(port), Z, 'AXFR', '+time=3', '+tries=1']);
    assert.equal(zoneLines(axfr.stdout).length, 2 + zoneRecords().length + 2000);
    assert.match(axfr.stdout, /XFR size: \d+ records \(messages \d+/);
    const upToDate = await run('dig', [`@127.0.0.1`, '-p', String(port), Z, 'IXFR=42', '+time=3', '+tries=1']);
    assert.deepEqual(zoneLines(upToDate.stdout).length, 1, upToDate.stdout);
    const behind = await run('dig', [`@127.0.0.1`, '-p', String(port), Z, 'IXFR=41', '+time=3', '+tries=1']);
    assert.equal(zoneLines(behind.stdout).length, 2 + zoneRecords().length + 2000);
  });
});
