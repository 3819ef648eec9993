// The frontend's wire protocol against the RFCs, through respond() without
// sockets: SRV targets (RFC 2782), EDNS0 (RFC 6891), truncation by whole
// RRsets (RFC 1035, 2181, 6891, 7766), ANY (RFC 8482), malformed queries
// (RFC 1035), and load distribution (round robin, --max-endpoints).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import { applyDelta, compileAnswers, type AnswerOptions, type AnswerTable } from '../services/frontend/answers.js';
import { respond, sizeLimit, type Transport } from '../services/frontend/respond.js';
import type { DnsView, ViewRecord } from '../shared/view.js';
import { Z, decode, encodeQuery, flagsOf, isPointer, optsOf, pointerTarget, rawRecords, show, withoutOpt, writtenName, type Decoded, type QueryOptions } from './frontend-messages.js';

const A = (address: string): ViewRecord => ({ type: 'A', address });
const AAAA = (address: string): ViewRecord => ({ type: 'AAAA', address });
const SRV = (port: number, target: string, weight = 100): ViewRecord => ({ type: 'SRV', priority: 0, weight, port, target });

// A headless service `name` with `count` endpoints pod-<i>.c1, one named port.
function headless(name: string, count: number): Record<string, ViewRecord[]> {
  const base = `${name}.prod.svc`;
  const pods = Array.from({ length: count }, (_, i) => ({ target: `pod-${i}.c1.${base}`, address: `10.${20 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}` }));
  const names: Record<string, ViewRecord[]> = {
    [base]: pods.map((p) => A(p.address)),
    [`_http._tcp.${base}`]: pods.map((p) => SRV(80, p.target, 1)),
  };
  for (const p of pods) names[p.target] = [A(p.address)];
  return names;
}

function testView(): DnsView {
  return {
    version: 42,
    clusters: [{ id: 'c1', synced: true }],
    namespaces: ['prod'],
    services: {
      'prod/web': {
        names: {
          'web.prod.svc': [A('10.0.0.10'), AAAA('fd00::10'), SRV(80, 'web.prod.svc', 50), SRV(443, 'web.prod.svc', 50)],
          '_http._tcp.web.prod.svc': [SRV(80, 'web.prod.svc')],
        },
      },
      'prod/v6': { names: { 'v6.prod.svc': [AAAA('fd00::6'), AAAA('fd00::7')] } },
      'prod/five': { names: { 'five.prod.svc': [1, 2, 3, 4, 5].map((i) => A(`10.5.0.${i}`)) } },
      'prod/db': {
        names: {
          'db.prod.svc': [A('10.1.0.1'), A('10.1.0.2'), AAAA('fd00::2'), SRV(5432, 'db-0.c1.db.prod.svc', 50), SRV(5432, 'db-1.c1.db.prod.svc', 50), SRV(9187, 'db-0.c1.db.prod.svc', 50), SRV(9187, 'db-1.c1.db.prod.svc', 50)],
          '_pg._tcp.db.prod.svc': [SRV(5432, 'db-0.c1.db.prod.svc', 50), SRV(5432, 'db-1.c1.db.prod.svc', 50)],
          'db-0.c1.db.prod.svc': [A('10.1.0.1')],
          'db-1.c1.db.prod.svc': [A('10.1.0.2'), AAAA('fd00::2')],
        },
      },
      'prod/seventy': { names: { 'seventy.prod.svc': Array.from({ length: 70 }, (_, i) => A(`10.7.0.${i}`)) } },
      'prod/eighty': { names: { 'eighty.prod.svc': Array.from({ length: 80 }, (_, i) => A(`10.8.0.${i}`)) } },
      'prod/wide': { names: headless('wide', 17) },
      'prod/huge': { names: headless('huge', 5000) },
      'prod/tall': { names: headless('tall', 400) },
    },
  };
}

const fixed = compileAnswers(testView(), [Z], 5, { rotate: false });

function ask(table: AnswerTable, packet: Buffer, transport: Transport = 'udp'): { response: Buffer; p: Decoded } {
  const response = respond(packet, table, transport);
  assert.ok(response, 'an answer');
  return { response, p: decode(response) };
}

const query = (qname: string, qtype: string, o: QueryOptions = {}) => encodeQuery(qname, qtype, o);
const fullRcode = (p: Decoded): number => ((optsOf(p)[0]?.extendedRcode ?? 0) << 4) | (dnsPacket.decode(dnsPacket.encode(p as unknown as dnsPacket.Packet)).flags! & 0xf);

describe('RFC 2782: SRV targets are not compressed', () => {
  const questions = [`_http._tcp.web.prod.svc.${Z}`, `WEB.prod.svc.${Z}`, `_pg._tcp.DB.prod.svc.${Z.toUpperCase()}`, `db.prod.svc.${Z}`, `_http._tcp.wide.prod.svc.${Z}`];
  for (const qname of questions) {
    it(`${qname} SRV: targets in full and lower case, owners compressed, additional owners pointing into targets`, () => {
      const { response, p } = ask(fixed, query(qname, 'SRV'), 'tcp');
      const records = rawRecords(response);
      const srv = records.filter((r) => r.section === 'answer');
      assert.ok(srv.length > 0);
      const targetsAt = new Set<number>();
      for (const r of srv) {
        assert.equal(r.type, 33);
        assert.deepEqual(r.owner, [0xc0, 12], 'the owner is a pointer to the question');
        const target = writtenName(response, r.dataAt + 6);
        assert.equal(target.octets.at(-1), 0, 'the target ends in the root label, no pointer');
        assert.equal(target.end, r.dataAt + r.dataLength, 'the target fills the rest of the data');
        targetsAt.add(r.dataAt + 6);
      }
      for (const a of p.answers) assert.equal((a as { data: { target: string } }).data.target, (a as { data: { target: string } }).data.target.toLowerCase());
      const additional = records.filter((r) => r.section === 'additional' && r.type !== 41);
      assert.ok(additional.length > 0);
      for (const r of additional) {
        assert.ok(isPointer(r.owner) && targetsAt.has(pointerTarget(r.owner)), 'an additional owner points at a target');
      }
      const targets = new Set(p.answers.map((a) => (a as { data: { target: string } }).data.target));
      for (const r of withoutOpt(p.additionals)) assert.ok(targets.has(r.name), `${r.name} is a target`);
    });
  }

  it('keeps compressing the names of other records (SOA, NS)', () => {
    const { response } = ask(fixed, query(Z, 'SOA'));
    const [soa] = rawRecords(response);
    assert.ok(soa);
    const mname = writtenName(response, soa.dataAt);
    assert.ok(isPointer(mname.octets.slice(-2)), 'mname ends in a pointer to the zone');
    const { response: ns } = ask(fixed, query(Z, 'NS'));
    assert.ok(isPointer(writtenName(ns, rawRecords(ns)[0]!.dataAt).octets.slice(-2)));
  });
});

describe('RFC 6891: EDNS0', () => {
  const web = `web.prod.svc.${Z}`;
  const opt = (p: Decoded) => optsOf(p).map((o) => [o.udpPayloadSize, o.ednsVersion, o.extendedRcode]);
  // OPT at the end of the packet, its owner octet replaced by `owner`.
  const withOptOwner = (owner: number[]) => {
    const packet = query(web, 'A', { edns: 1232 });
    return Buffer.concat([packet.subarray(0, packet.length - 11), Buffer.from(owner), packet.subarray(packet.length - 10)]);
  };
  const twoOpts = () => {
    const packet = query(web, 'A', { edns: 1232 });
    const optRecord = packet.subarray(packet.length - 11);
    const doubled = Buffer.concat([packet, optRecord]);
    doubled.writeUInt16BE(2, 10);
    return doubled;
  };
  const optInAnswer = () => {
    const packet = query(web, 'A', { edns: 1232 });
    packet.writeUInt16BE(1, 6);
    packet.writeUInt16BE(0, 10);
    return packet;
  };
  const questionRoot = 12 + web.length + 1; // the question name's root label

  const cases: { what: string; packet: () => Buffer; rcode: number; opt: number[][]; answers: number }[] = [
    { what: 'no OPT: none back', packet: () => query(web, 'A'), rcode: 0, opt: [], answers: 1 },
    { what: 'OPT: ours back, payload 1232, version 0', packet: () => query(web, 'A', { edns: 4096 }), rcode: 0, opt: [[1232, 0, 0]], answers: 1 },
    { what: 'EDNS version 1: BADVERS', packet: () => query(web, 'A', { edns: 1232, ednsVersion: 1 }), rcode: 16, opt: [[1232, 0, 1]], answers: 0 },
    { what: 'EDNS version 255: BADVERS', packet: () => query(web, 'A', { edns: 1232, ednsVersion: 255 }), rcode: 16, opt: [[1232, 0, 1]], answers: 0 },
    { what: 'unknown options (and COOKIE) ignored', packet: () => query(web, 'A', { edns: 1232, ednsOptions: [{ code: 65001, data: Buffer.from('xyz') }, { code: 10, data: Buffer.alloc(8, 7) }] }), rcode: 0, opt: [[1232, 0, 0]], answers: 1 },
    { what: 'OPT owned by a pointer to the root', packet: () => withOptOwner([0xc0, questionRoot]), rcode: 0, opt: [[1232, 0, 0]], answers: 1 },
  ];
  for (const c of cases) {
    it(c.what, () => {
      const { p } = ask(fixed, c.packet());
      assert.equal(fullRcode(p), c.rcode);
      assert.deepEqual(opt(p), c.opt);
      assert.equal(p.answers.length, c.answers);
    });
  }

  const formerr: [string, () => Buffer][] = [
    ['two OPT records', twoOpts],
    ['OPT not owned by the root', () => withOptOwner([1, 0x78, 0])],
    ['OPT owned by a pointer to a name other than the root', () => withOptOwner([0xc0, 12])],
    ['OPT in the answer section', optInAnswer],
  ];
  for (const [what, packet] of formerr) {
    it(`FORMERR for ${what}`, () => {
      const response = respond(packet(), fixed, 'udp');
      assert.ok(response);
      assert.deepEqual([response.length, response.readUInt16BE(0), response.readUInt16BE(2) & 0x800f], [12, 0x1234, 0x8001]);
    });
  }

  it('limits UDP responses to max(512, min(advertised, 1232)), 512 without EDNS, 65535 over TCP', () => {
    const table: [Transport, number | undefined, number][] = [
      ['udp', undefined, 512],
      ['udp', 100, 512],
      ['udp', 512, 512],
      ['udp', 1000, 1000],
      ['udp', 1232, 1232],
      ['udp', 4096, 1232],
      ['udp', 65535, 1232],
      ['tcp', undefined, 65535],
      ['tcp', 512, 65535],
    ];
    for (const [transport, payload, limit] of table) {
      assert.equal(sizeLimit(transport, payload === undefined ? undefined : { version: 0, payloadSize: payload, ecsAt: -1, optEnd: 0 }), limit, `${transport} ${payload}`);
    }
  });

  it('applies that limit to whole answers: 70 A records fit 1232 but not 1000 or 512', () => {
    const seventy = `seventy.prod.svc.${Z}`;
    const size = 12 + seventy.length + 2 + 4 + 70 * 16 + 11; // header, question, records, OPT
    const sizes: [number | undefined, boolean][] = [
      [undefined, true],
      [1000, true],
      [size - 1, true],
      [size, false],
      [4096, false],
    ];
    for (const [edns, truncated] of sizes) {
      const { response, p } = ask(fixed, query(seventy, 'A', edns ? { edns } : {}));
      assert.equal(p.flag_tc, truncated, `advertised ${edns}`);
      assert.equal(p.answers.length, truncated ? 0 : 70);
      assert.ok(response.length <= sizeLimit('udp', edns ? { version: 0, payloadSize: edns, ecsAt: -1, optEnd: 0 } : undefined));
    }
  });
});

describe('truncation by whole RRsets', () => {
  it('sets TC and leaves the answer out when its RRset does not fit, keeping the question and OPT', () => {
    const { response, p } = ask(fixed, query(`eighty.prod.svc.${Z}`, 'A', { edns: 4096 }));
    assert.equal(flagsOf(p), 'qr aa tc rd');
    assert.deepEqual([p.questions.length, p.answers.length, p.authorities.length, optsOf(p).length], [1, 0, 0, 1]);
    assert.ok(response.length <= 1232);
  });

  it('drops additional RRsets before the answer, without TC (RFC 2181 §9), and never half an RRset', () => {
    const { response, p } = ask(fixed, query(`_http._tcp.wide.prod.svc.${Z}`, 'SRV', { edns: 1232 }));
    assert.equal(p.flag_tc, false);
    assert.equal(p.answers.length, 17);
    const additional = withoutOpt(p.additionals);
    assert.ok(additional.length > 0 && additional.length < 17, `${additional.length} of 17 targets' addresses`);
    // In answer order: the first targets get their addresses.
    assert.deepEqual(
      additional.map((r) => r.name),
      p.answers.slice(0, additional.length).map((a) => (a as { data: { target: string } }).data.target),
    );
    assert.equal(optsOf(p).length, 1);
    assert.ok(response.length <= 1232 && response.length > 1232 - 16, `${response.length} octets: as many as fit`);
    const db = ask(fixed, query(`db.prod.svc.${Z}`, 'SRV')).p;
    // db-1 has an A and an AAAA RRset: both or neither.
    const db1 = withoutOpt(db.additionals).filter((r) => r.name.startsWith('db-1'));
    assert.deepEqual(db1.map((r) => r.type).sort(), ['A', 'AAAA']);
  });

  it('gives the whole answer over TCP', () => {
    const { p } = ask(fixed, query(`eighty.prod.svc.${Z}`, 'A'), 'tcp');
    assert.equal(p.flag_tc, false);
    assert.equal(p.answers.length, 80);
    const srv = ask(fixed, query(`_http._tcp.wide.prod.svc.${Z}`, 'SRV'), 'tcp').p;
    assert.deepEqual([srv.answers.length, withoutOpt(srv.additionals).length], [17, 17]);
  });

  it('truncates over TCP too, with TC, when an RRset exceeds 65535 octets', () => {
    const { response, p } = ask(fixed, query(`huge.prod.svc.${Z}`, 'A'), 'tcp');
    assert.equal(flagsOf(p), 'qr aa tc rd');
    assert.equal(p.answers.length, 0);
    assert.ok(response.length < 100);
  });

  it('gives no addresses over TCP for targets past what a compression pointer reaches (16383)', () => {
    const { response, p } = ask(fixed, query(`_http._tcp.tall.prod.svc.${Z}`, 'SRV'), 'tcp');
    assert.equal(p.flag_tc, false);
    assert.equal(p.answers.length, 400);
    const additional = rawRecords(response).filter((r) => r.section === 'additional');
    assert.ok(additional.length > 200 && additional.length < 400, `${additional.length} of 400`);
    for (const r of additional) assert.ok(pointerTarget(r.owner) <= 0x3fff);
  });

  it('answers NODATA and NXDOMAIN with their SOA for the longest names', () => {
    const long = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(40)}.${Z}`;
    const { response, p } = ask(fixed, query(long, 'A'));
    assert.deepEqual([p.rcode, p.flag_tc, p.authorities.length], ['NXDOMAIN', false, 1]);
    assert.ok(response.length <= 512);
  });
});

describe('RFC 8482: ANY gets one RRset', () => {
  const cases: { qname: string; rcode: string; answer: string[]; authority?: number }[] = [
    { qname: `web.prod.svc.${Z}`, rcode: 'NOERROR', answer: [`web.prod.svc.${Z} 5 A 10.0.0.10`] },
    { qname: `v6.prod.svc.${Z}`, rcode: 'NOERROR', answer: [`v6.prod.svc.${Z} 5 AAAA fd00::6`, `v6.prod.svc.${Z} 5 AAAA fd00::7`] },
    { qname: `_http._tcp.web.prod.svc.${Z}`, rcode: 'NOERROR', answer: [`_http._tcp.web.prod.svc.${Z} 5 SRV 0 100 80 web.prod.svc.${Z}`] },
    { qname: Z, rcode: 'NOERROR', answer: [`${Z} 5 SOA ns.dns.${Z} hostmaster.${Z} 42 7200 1800 86400 5`] },
    { qname: `dns-version.${Z}`, rcode: 'NOERROR', answer: [`dns-version.${Z} 28800 TXT "1.0.0"`] },
    { qname: `prod.svc.${Z}`, rcode: 'NOERROR', answer: [], authority: 1 },
    { qname: `c1.db.prod.svc.${Z}`, rcode: 'NOERROR', answer: [], authority: 1 },
    { qname: `nope.prod.svc.${Z}`, rcode: 'NXDOMAIN', answer: [], authority: 1 },
  ];
  for (const c of cases) {
    it(`${c.qname} ANY → ${c.answer.length ? c.answer[0]!.split(' ')[2] : c.rcode}`, () => {
      const { p } = ask(fixed, query(c.qname, 'ANY'));
      assert.equal(p.rcode, c.rcode);
      assert.deepEqual(p.answers.map(show), c.answer);
      assert.equal(p.authorities.length, c.authority ?? 0);
      assert.deepEqual(p.questions[0], { name: c.qname, type: 'ANY', class: 'IN' });
    });
  }

  it('gives an SRV-only name its targets as additional records too', () => {
    const { p } = ask(fixed, query(`_pg._tcp.db.prod.svc.${Z}`, 'ANY'));
    assert.equal(p.answers.length, 2);
    assert.equal(withoutOpt(p.additionals).length, 3);
  });
});

describe('RFC 1035: malformed and unusual queries', () => {
  const web = `web.prod.svc.${Z}`;
  const good = () => query(web, 'A');
  const mutate = (f: (p: Buffer) => Buffer | void) => () => {
    const p = good();
    return f(p) ?? p;
  };
  const question = Buffer.from(`\x03web\x04prod\x03svc\x0aclusterset\x05local\x00`, 'latin1');
  const withQuestion = (name: Buffer) => () => Buffer.concat([good().subarray(0, 12), name, Buffer.from([0, 1, 0, 1])]);

  const silent: [string, () => Buffer][] = [
    ['an empty packet', () => Buffer.alloc(0)],
    ['11 octets', () => good().subarray(0, 11)],
    ['a response (QR set)', mutate((p) => void (p[2]! |= 0x80))],
    ['a response with a bad question', mutate((p) => void ((p[2]! |= 0x80), p.writeUInt16BE(3, 4)))],
  ];
  for (const [what, packet] of silent) it(`stays silent for ${what}`, () => assert.equal(respond(packet(), fixed, 'udp'), undefined));

  const headerOnly: [string, () => Buffer, number][] = [
    ['QDCOUNT 0', mutate((p) => void p.writeUInt16BE(0, 4)), 1],
    ['QDCOUNT 2', mutate((p) => void p.writeUInt16BE(2, 4)), 1],
    ['QDCOUNT 65535', mutate((p) => void p.writeUInt16BE(65535, 4)), 1],
    ['a header alone', () => good().subarray(0, 12), 1],
    ['the question cut short', () => good().subarray(0, good().length - 2), 1],
    ['a compression pointer in the question', withQuestion(Buffer.from([0xc0, 0x0c])), 1],
    ['a pointer loop in the question', withQuestion(Buffer.from([0x03, 0x61, 0x62, 0x63, 0xc0, 0x0c])), 1],
    ['a label of 64 octets', withQuestion(Buffer.concat([Buffer.from([64]), Buffer.alloc(64, 0x61), Buffer.from([0])])), 1],
    ['a reserved label type (0x40)', withQuestion(Buffer.from([0x41, 0x61, 0])), 1],
    ['a name of 256 octets', withQuestion(Buffer.concat([...Array.from({ length: 4 }, () => Buffer.concat([Buffer.from([62]), Buffer.alloc(62, 0x61)])), Buffer.from([3, 0x61, 0x61, 0x61, 0])])), 1],
    ['ANCOUNT 65535 with no records', mutate((p) => void p.writeUInt16BE(65535, 6)), 1],
    ['ARCOUNT 1 with a record cut short', () => Buffer.concat([mutate((p) => void p.writeUInt16BE(1, 10))(), Buffer.from([0, 0, 41, 4])]), 1],
    ['a record whose data runs past the end', () => Buffer.concat([mutate((p) => void p.writeUInt16BE(1, 10))(), Buffer.from([0, 0, 16, 0, 1, 0, 0, 0, 0, 0, 9, 1])]), 1],
    ['opcode IQUERY', mutate((p) => void (p[2]! |= 1 << 3)), 4],
    ['opcode STATUS', mutate((p) => void (p[2]! |= 2 << 3)), 4],
    ['opcode NOTIFY', mutate((p) => void (p[2]! |= 4 << 3)), 4],
    ['opcode UPDATE', mutate((p) => void (p[2]! |= 5 << 3)), 4],
    ['opcode 15 with QDCOUNT 0', mutate((p) => void ((p[2]! |= 15 << 3), p.writeUInt16BE(0, 4))), 4],
  ];
  for (const [what, packet, rcode] of headerOnly) {
    it(`answers ${rcode === 1 ? 'FORMERR' : 'NOTIMP'}, header only, to ${what}`, () => {
      const sent = packet();
      const response = respond(sent, fixed, 'udp');
      assert.ok(response);
      assert.equal(response.length, 12);
      assert.equal(response.readUInt16BE(0), 0x1234);
      assert.equal(response.readUInt16BE(2), 0x8000 | (sent.readUInt16BE(2) & 0x7900) | rcode, 'QR, the opcode and RD echoed, the rcode');
      assert.deepEqual([4, 6, 8, 10].map((o) => response.readUInt16BE(o)), [0, 0, 0, 0]);
    });
  }

  const refused: [string, number][] = [
    ['CH', 3],
    ['HS', 4],
    ['NONE', 254],
    ['ANY', 255],
  ];
  for (const [name, qclass] of refused) {
    it(`answers REFUSED, not authoritative, with the question, to class ${name}`, () => {
      const packet = good();
      packet.writeUInt16BE(qclass, packet.length - 2);
      const { response, p } = ask(fixed, packet);
      assert.deepEqual([p.rcode, flagsOf(p), response.readUInt16BE(packet.length - 2), p.answers.length], ['REFUSED', 'qr rd', qclass, 0]);
    });
  }

  it('matches names case-insensitively and answers in the question’s case (0x20)', () => {
    for (const qname of ['wEb.PrOd.sVc.CluSterSet.LoCal', 'WEB.PROD.SVC.CLUSTERSET.LOCAL', web]) {
      const { response, p } = ask(fixed, query(qname, 'A'));
      assert.deepEqual(p.answers.map(show), [`${qname} 5 A 10.0.0.10`]);
      assert.equal(response.subarray(12, 12 + question.length).toString('latin1'), encodeQuery(qname, 'A').subarray(12, 12 + question.length).toString('latin1'));
    }
  });

  it('answers a query with records in its answer and authority sections, ignoring them', () => {
    const packet = dnsPacket.encode({
      type: 'query',
      id: 0x1234,
      questions: [{ name: web, type: 'A', class: 'IN' }],
      answers: [{ type: 'A', name: web, ttl: 1, data: '10.9.9.9' }],
      authorities: [{ type: 'NS', name: Z, ttl: 1, data: 'x.example' }],
    });
    assert.deepEqual(ask(fixed, packet).p.answers.map(show), [`${web} 5 A 10.0.0.10`]);
  });
});

describe('load distribution: round robin and --max-endpoints', () => {
  const five = `five.prod.svc.${Z}`;
  const addresses = (p: Decoded) => p.answers.map((a) => String((a as { data: string }).data));
  const all = [1, 2, 3, 4, 5].map((i) => `10.5.0.${i}`);
  const rotations = (list: string[]) => list.map((_, i) => [...list.slice(i), ...list.slice(0, i)]);
  const series = (table: AnswerTable, qname: string, qtype: string, n: number, transport: Transport = 'udp') => Array.from({ length: n }, () => ask(table, query(qname, qtype), transport).p);

  const cases: { what: string; options: AnswerOptions; expect: string[][] }[] = [
    { what: 'rotates by one record per response by default', options: {}, expect: [...rotations(all), all] },
    { what: 'keeps the view order without rotation', options: { rotate: false }, expect: Array.from({ length: 6 }, () => all) },
    { what: 'gives a rotating window of N records with a maximum', options: { maxEndpoints: 2 }, expect: [...rotations(all).map((r) => r.slice(0, 2)), all.slice(0, 2)] },
    { what: 'gives the first N records with a maximum and no rotation', options: { maxEndpoints: 2, rotate: false }, expect: Array.from({ length: 6 }, () => all.slice(0, 2)) },
    { what: 'gives all records when the maximum is above their number', options: { maxEndpoints: 9 }, expect: [...rotations(all), all] },
  ];
  for (const c of cases) {
    it(c.what, () => {
      const table = compileAnswers(testView(), [Z], 5, c.options);
      assert.deepEqual(series(table, five, 'A', 6).map(addresses), c.expect);
    });
  }

  it('rotates over TCP and for ANY too, each name on its own', () => {
    const table = compileAnswers(testView(), [Z], 5);
    assert.deepEqual(series(table, five, 'A', 2, 'tcp').map((p) => addresses(p)[0]), ['10.5.0.1', '10.5.0.2']);
    assert.deepEqual(addresses(ask(table, query(five, 'ANY')).p)[0], '10.5.0.3');
    assert.deepEqual(series(table, `v6.prod.svc.${Z}`, 'AAAA', 2).map((p) => addresses(p)[0]), ['fd00::6', 'fd00::7']);
  });

  it('rotates SRV records with their additional addresses following the records kept', () => {
    const table = compileAnswers(testView(), [Z], 5, { maxEndpoints: 3 });
    const wide = `_http._tcp.wide.prod.svc.${Z}`;
    const seen = new Set<string>();
    for (const p of series(table, wide, 'SRV', 17)) {
      const targets = p.answers.map((a) => (a as { data: { target: string } }).data.target);
      assert.equal(targets.length, 3);
      assert.deepEqual(withoutOpt(p.additionals).map((r) => r.name), targets, 'each kept target’s address, in order');
      for (const r of withoutOpt(p.additionals)) assert.equal(`10.20.0.${r.name.match(/^pod-(\d+)/)![1]}`, (r as { data: string }).data);
      seen.add(targets[0]!);
    }
    assert.equal(seen.size, 17, 'every record comes first once in 17 responses');
  });

  it('gives each target’s addresses once when it has several SRV records', () => {
    const table = compileAnswers(testView(), [Z], 5);
    for (const p of series(table, `db.prod.svc.${Z}`, 'SRV', 4)) {
      assert.equal(p.answers.length, 4);
      const names = withoutOpt(p.additionals).map((r) => `${r.name} ${r.type}`);
      assert.deepEqual([...names].sort(), [`db-0.c1.db.prod.svc.${Z} A`, `db-1.c1.db.prod.svc.${Z} A`, `db-1.c1.db.prod.svc.${Z} AAAA`]);
    }
  });

  it('keeps its options through deltas', () => {
    const table = compileAnswers(testView(), [Z], 5, { maxEndpoints: 1 });
    applyDelta(table, { from: 42, to: 43, services: { upsert: { 'prod/five': { names: { 'five.prod.svc': [A('10.6.0.1'), A('10.6.0.2')] } } }, remove: [] } });
    assert.deepEqual(series(table, five, 'A', 3).map(addresses), [['10.6.0.1'], ['10.6.0.2'], ['10.6.0.1']]);
  });

  it('rejects a maximum that is not a whole number of at least 1', () => {
    for (const maxEndpoints of [0, -1, 1.5, NaN]) assert.throws(() => compileAnswers(testView(), [Z], 5, { maxEndpoints }), /invalid maximum of endpoints/);
  });
});
