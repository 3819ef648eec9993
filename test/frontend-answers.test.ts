// The frontend's answers without sockets: a hand-built DnsView compiled with
// compileAnswers, queried through respond() with packets dns-packet encodes,
// and the responses decoded by dns-packet. One case per row of DESIGN.md's
// DNS table, and then the edges (zones, EDNS, truncation, deltas). Tables are
// compiled without rotation so that record order is the view's; rotation,
// windows and the RFC details are in frontend-wire-rfc.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import { applyDelta, compileAnswers, pendingAnswers, type AnswerTable } from '../services/frontend/answers.js';
import { respond, type Transport } from '../services/frontend/respond.js';
import { applyDelta as applyViewDelta, type DnsView, type ViewDelta, type ViewRecord } from '../shared/view.js';

const Z = 'clusterset.local';
const fixedOrder = { rotate: false };

// dns-packet's decode, with the fields it always sets.
type Decoded = Required<Pick<dnsPacket.DecodedPacket, 'id' | 'questions' | 'answers' | 'authorities' | 'additionals'>> & {
  rcode: string;
  flag_tc: boolean;
};
const decode = (message: Buffer): Decoded => dnsPacket.decode(message) as unknown as Decoded;
const A = (address: string): ViewRecord => ({ type: 'A', address });
const AAAA = (address: string): ViewRecord => ({ type: 'AAAA', address });
const SRV = (port: number, target: string, weight = 100): ViewRecord => ({ type: 'SRV', priority: 0, weight, port, target });

const dbTargets = ['10-2-0-9.c2.db.prod.svc', 'db-0.c1.db.prod.svc', 'db-0.c2.db.prod.svc', 'fd00--9.c2.db.prod.svc'];
const dbSrv = dbTargets.map((t) => SRV(5432, t, 25));

// What the aggregator would derive for: a dual-stack ClusterSetIP service
// with two named ports, an IPv4-only one, a headless service with endpoints
// in clusters c1 and c2 (one without hostname, one IPv6), a service in a
// namespace the view does not list, and an empty listed namespace.
function testView(): DnsView {
  return {
    version: 42,
    clusters: [
      { id: 'c1', synced: true },
      { id: 'c2', synced: true },
    ],
    namespaces: ['idle', 'prod'],
    services: {
      'prod/web': {
        names: {
          'web.prod.svc': [A('10.0.0.10'), AAAA('fd00::10'), SRV(80, 'web.prod.svc', 50), SRV(443, 'web.prod.svc', 50)],
          '_http._tcp.web.prod.svc': [SRV(80, 'web.prod.svc')],
          '_https._tcp.web.prod.svc': [SRV(443, 'web.prod.svc')],
        },
      },
      'prod/v4': { names: { 'v4.prod.svc': [A('10.0.0.20')] } },
      'prod/db': {
        names: {
          'db.prod.svc': [A('10.1.0.1'), A('10.2.0.1'), A('10.2.0.9'), AAAA('fd00::9'), ...dbSrv],
          '_pg._tcp.db.prod.svc': dbSrv,
          'db-0.c1.db.prod.svc': [A('10.1.0.1')],
          'db-0.c2.db.prod.svc': [A('10.2.0.1')],
          '10-2-0-9.c2.db.prod.svc': [A('10.2.0.9')],
          'fd00--9.c2.db.prod.svc': [AAAA('fd00::9')],
        },
      },
      'other/api': { names: { 'api.other.svc': [A('10.3.0.1')] } },
      'prod/gone': { names: {} }, // headless without a ready endpoint: no names
      'prod/big': { names: { 'big.prod.svc': Array.from({ length: 40 }, (_, i) => A(`10.9.0.${i + 1}`)) } },
    },
  };
}

interface Ask {
  qclass?: dnsPacket.RecordClass;
  rd?: boolean;
  edns?: number; // advertised UDP payload size; no OPT when absent
  transport?: Transport;
}

function query(qname: string, qtype: string, o: Ask = {}): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id: 0x1234,
    flags: o.rd === false ? 0 : dnsPacket.RECURSION_DESIRED,
    questions: [{ name: qname, type: qtype as dnsPacket.RecordType, class: o.qclass ?? 'IN' }],
    additionals: o.edns ? [{ type: 'OPT', name: '.', udpPayloadSize: o.edns } as dnsPacket.Answer] : [],
  });
}

function ask(table: AnswerTable, qname: string, qtype: string, o: Ask = {}): Decoded {
  const response = respond(query(qname, qtype, o), table, o.transport ?? 'udp');
  assert.ok(response, 'an answer');
  return decode(response);
}

// "name ttl TYPE data", the way a zone file would say it.
function show(record: dnsPacket.Answer): string {
  const r = record as { name: string; ttl?: number; type: string; data?: unknown };
  const d = r.data as Record<string, unknown> | string | Buffer[];
  const data =
    r.type === 'SRV' && typeof d === 'object' && !Array.isArray(d)
      ? `${d.priority} ${d.weight} ${d.port} ${d.target}`
      : r.type === 'SOA' && typeof d === 'object' && !Array.isArray(d)
        ? `${d.mname} ${d.rname} ${d.serial} ${d.refresh} ${d.retry} ${d.expire} ${d.minimum}`
        : r.type === 'TXT' && Array.isArray(d)
          ? d.map((b) => JSON.stringify(b.toString())).join(' ')
          : String(d);
  return `${r.name} ${r.ttl} ${r.type} ${data}`;
}

function flagsOf(p: Decoded): string {
  const f = p as unknown as Record<string, boolean>;
  return ['qr', 'aa', 'tc', 'rd', 'ra'].filter((flag) => f[`flag_${flag}`]).join(' ');
}

const withoutOpt = (records: dnsPacket.Answer[] = []) => records.filter((r) => r.type !== 'OPT');

interface Case {
  qname: string;
  qtype: string;
  rcode: string;
  answer?: string[];
  authority?: string[];
  additional?: string[];
  flags?: string; // default "qr aa rd"
  ask?: Ask;
}

function check(table: AnswerTable, c: Case): void {
  const p = ask(table, c.qname, c.qtype, c.ask);
  const title = `${c.qname} ${c.qtype}`;
  assert.equal(p.rcode, c.rcode, `${title}: rcode`);
  assert.equal(flagsOf(p), c.flags ?? 'qr aa rd', `${title}: flags`);
  assert.equal(p.id, 0x1234, `${title}: id`);
  assert.deepEqual(p.questions, [{ name: c.qname, type: c.qtype, class: c.ask?.qclass ?? 'IN' }], `${title}: question`);
  assert.deepEqual(p.answers.map(show), c.answer ?? [], `${title}: answer`);
  assert.deepEqual(p.authorities.map(show), c.authority ?? [], `${title}: authority`);
  assert.deepEqual(withoutOpt(p.additionals).map(show), c.additional ?? [], `${title}: additional`);
}

const soa = (zone = Z, serial = 42, ttl = 5) => `${zone} ${ttl} SOA ns.dns.${zone} hostmaster.${zone} ${serial} 7200 1800 86400 ${ttl}`;
const nodata = (qname: string, qtype: string, zone = Z, serial = 42): Case => ({ qname, qtype, rcode: 'NOERROR', authority: [soa(zone, serial)] });
const nxdomain = (qname: string, qtype: string, zone = Z, serial = 42): Case => ({ qname, qtype, rcode: 'NXDOMAIN', authority: [soa(zone, serial)] });

describe('frontend answers: the DNS table', () => {
  const table = compileAnswers(testView(), [Z], 5, fixedOrder);
  const web = `web.prod.svc.${Z}`;
  const db = `db.prod.svc.${Z}`;
  const dbAdditional = [
    `10-2-0-9.c2.${db} 5 A 10.2.0.9`,
    `db-0.c1.${db} 5 A 10.1.0.1`,
    `db-0.c2.${db} 5 A 10.2.0.1`,
    `fd00--9.c2.${db} 5 AAAA fd00::9`,
  ];
  const dbSrvAnswer = (owner: string) => dbTargets.map((t) => `${owner} 5 SRV 0 25 5432 ${t}.${Z}`);
  const cases: Case[] = [
    // ClusterSetIP, dual-stack: each family from the import's IPs.
    { qname: web, qtype: 'A', rcode: 'NOERROR', answer: [`${web} 5 A 10.0.0.10`] },
    { qname: web, qtype: 'AAAA', rcode: 'NOERROR', answer: [`${web} 5 AAAA fd00::10`] },
    // The name exists but has no IP of that family: NODATA.
    { qname: `v4.prod.svc.${Z}`, qtype: 'A', rcode: 'NOERROR', answer: [`v4.prod.svc.${Z} 5 A 10.0.0.20`] },
    nodata(`v4.prod.svc.${Z}`, 'AAAA'),
    // SRV per named port, and at the bare name for every named port; targets' addresses as additional.
    { qname: `_http._tcp.${web}`, qtype: 'SRV', rcode: 'NOERROR', answer: [`_http._tcp.${web} 5 SRV 0 100 80 ${web}`], additional: [`${web} 5 A 10.0.0.10`, `${web} 5 AAAA fd00::10`] },
    { qname: `_https._tcp.${web}`, qtype: 'SRV', rcode: 'NOERROR', answer: [`_https._tcp.${web} 5 SRV 0 100 443 ${web}`], additional: [`${web} 5 A 10.0.0.10`, `${web} 5 AAAA fd00::10`] },
    { qname: web, qtype: 'SRV', rcode: 'NOERROR', answer: [`${web} 5 SRV 0 50 80 ${web}`, `${web} 5 SRV 0 50 443 ${web}`], additional: [`${web} 5 A 10.0.0.10`, `${web} 5 AAAA fd00::10`] },
    nodata(`_http._tcp.${web}`, 'A'),
    nxdomain(`_grpc._tcp.${web}`, 'SRV'),
    // Headless: every ready endpoint in every cluster.
    { qname: db, qtype: 'A', rcode: 'NOERROR', answer: [`${db} 5 A 10.1.0.1`, `${db} 5 A 10.2.0.1`, `${db} 5 A 10.2.0.9`] },
    { qname: db, qtype: 'AAAA', rcode: 'NOERROR', answer: [`${db} 5 AAAA fd00::9`] },
    { qname: `_pg._tcp.${db}`, qtype: 'SRV', rcode: 'NOERROR', answer: dbSrvAnswer(`_pg._tcp.${db}`), additional: dbAdditional },
    { qname: db, qtype: 'SRV', rcode: 'NOERROR', answer: dbSrvAnswer(db), additional: dbAdditional },
    // Per endpoint: <hostname>.<cluster>, the address as hostname when there is none.
    { qname: `db-0.c1.${db}`, qtype: 'A', rcode: 'NOERROR', answer: [`db-0.c1.${db} 5 A 10.1.0.1`] },
    { qname: `db-0.c2.${db}`, qtype: 'A', rcode: 'NOERROR', answer: [`db-0.c2.${db} 5 A 10.2.0.1`] },
    { qname: `10-2-0-9.c2.${db}`, qtype: 'A', rcode: 'NOERROR', answer: [`10-2-0-9.c2.${db} 5 A 10.2.0.9`] },
    { qname: `fd00--9.c2.${db}`, qtype: 'AAAA', rcode: 'NOERROR', answer: [`fd00--9.c2.${db} 5 AAAA fd00::9`] },
    nodata(`fd00--9.c2.${db}`, 'A'),
    nxdomain(`db-1.c1.${db}`, 'A'),
    nxdomain(`gone.prod.svc.${Z}`, 'A'),
    nxdomain(`db-0.c3.${db}`, 'A'),
    // Empty non-terminals are NODATA, never NXDOMAIN (RFC 8020).
    nodata(`c1.${db}`, 'A'),
    nodata(`c2.${db}`, 'SRV'),
    nodata(`_tcp.${db}`, 'SRV'),
    nodata(`prod.svc.${Z}`, 'A'),
    nodata(`idle.svc.${Z}`, 'A'), // a known namespace without services
    nodata(`other.svc.${Z}`, 'A'), // a namespace only known through its service
    nodata(`svc.${Z}`, 'A'),
    // Below an existing name, or beside it: NXDOMAIN.
    nxdomain(`x.db-0.c1.${db}`, 'A'),
    nxdomain(`nope.prod.svc.${Z}`, 'A'),
    nxdomain(`unknown.svc.${Z}`, 'A'),
    nxdomain(`pod.${Z}`, 'A'),
    // dns-version, SOA and NS.
    { qname: `dns-version.${Z}`, qtype: 'TXT', rcode: 'NOERROR', answer: [`dns-version.${Z} 28800 TXT "1.0.0"`] },
    nodata(`dns-version.${Z}`, 'A'),
    { qname: Z, qtype: 'SOA', rcode: 'NOERROR', answer: [soa()] },
    { qname: Z, qtype: 'NS', rcode: 'NOERROR', answer: [`${Z} 5 NS ns.dns.${Z}`] },
    nodata(Z, 'A'),
    nxdomain(`ns.dns.${Z}`, 'A'),
    // Other types at existing names.
    nodata(web, 'MX'),
    nodata(web, 'TXT'),
    // Outside every zone, another class, zone transfers: REFUSED, not authoritative.
    { qname: 'example.com', qtype: 'A', rcode: 'REFUSED', flags: 'qr rd' },
    { qname: 'local', qtype: 'SOA', rcode: 'REFUSED', flags: 'qr rd' },
    { qname: 'xclusterset.local', qtype: 'A', rcode: 'REFUSED', flags: 'qr rd' },
    { qname: 'ab\nclusterset.local', qtype: 'A', rcode: 'REFUSED', flags: 'qr rd' }, // the zone's octets, not its labels
    { qname: web, qtype: 'A', rcode: 'REFUSED', flags: 'qr rd', ask: { qclass: 'CH' } },
    { qname: Z, qtype: 'AXFR', rcode: 'REFUSED', flags: 'qr rd' },
    // The question's letter case is kept (0x20) in owner names; SRV targets
    // are written in full (RFC 2782), so they and the names pointing into them are ours.
    { qname: `WeB.pRoD.SVC.ClusterSet.LOCAL`, qtype: 'A', rcode: 'NOERROR', answer: [`WeB.pRoD.SVC.ClusterSet.LOCAL 5 A 10.0.0.10`] },
    {
      qname: `_PG._tcp.Db.prod.svc.CLUSTERSET.local`,
      qtype: 'SRV',
      rcode: 'NOERROR',
      answer: dbTargets.map((t) => `_PG._tcp.Db.prod.svc.CLUSTERSET.local 5 SRV 0 25 5432 ${t}.${Z}`),
      additional: dbAdditional,
    },
    { qname: `NoPe.${Z.toUpperCase()}`, qtype: 'A', rcode: 'NXDOMAIN', authority: [soa(Z.toUpperCase())] },
    // RD is copied, never RA.
    { qname: web, qtype: 'A', rcode: 'NOERROR', answer: [`${web} 5 A 10.0.0.10`], flags: 'qr aa', ask: { rd: false } },
  ];
  for (const c of cases) {
    it(`${c.qname} ${c.qtype} → ${c.rcode}${c.ask ? ` (${JSON.stringify(c.ask)})` : ''}`, () => check(table, c));
  }

  it('uses the ttl setting everywhere except dns-version', () => {
    const t30 = compileAnswers(testView(), [Z], 30, fixedOrder);
    check(t30, { qname: web, qtype: 'SRV', rcode: 'NOERROR', answer: [`${web} 30 SRV 0 50 80 ${web}`, `${web} 30 SRV 0 50 443 ${web}`], additional: [`${web} 30 A 10.0.0.10`, `${web} 30 AAAA fd00::10`] });
    check(t30, { qname: `nope.${Z}`, qtype: 'A', rcode: 'NXDOMAIN', authority: [soa(Z, 42, 30)] });
    check(t30, { qname: `dns-version.${Z}`, qtype: 'TXT', rcode: 'NOERROR', answer: [`dns-version.${Z} 28800 TXT "1.0.0"`] });
  });

  it('compresses owner names against the question and the SRV targets', () => {
    const response = respond(query(`_pg._tcp.${db}`, 'SRV'), table, 'tcp');
    assert.ok(response);
    const uncompressed = dnsPacket.encode(decode(response)).length;
    assert.ok(response.length < uncompressed * 0.7, `${response.length} octets, ${uncompressed} uncompressed`);
  });

  it('keeps the SOA serial at the view version modulo 2^32', () => {
    const t = compileAnswers({ ...testView(), version: 2 ** 32 + 7 }, [Z], 5);
    check(t, { qname: Z, qtype: 'SOA', rcode: 'NOERROR', answer: [soa(Z, 7)] });
  });

  it('skips records it cannot write instead of failing the name', () => {
    const view = testView();
    view.services['prod/bad'] = {
      names: {
        'bad.prod.svc': [A('10.0.0.300'), A('10.0.0.30'), AAAA('not-an-ip'), SRV(1, 'Upper.Case'), SRV(2, `${'x'.repeat(64)}.prod.svc`), SRV(70000, 'bad.prod.svc')],
        'Bad Name.prod.svc': [A('10.0.0.31')],
      },
    };
    const t = compileAnswers(view, [Z], 5);
    check(t, { qname: `bad.prod.svc.${Z}`, qtype: 'A', rcode: 'NOERROR', answer: [`bad.prod.svc.${Z} 5 A 10.0.0.30`] });
    check(t, nodata(`bad.prod.svc.${Z}`, 'AAAA'));
    check(t, nodata(`bad.prod.svc.${Z}`, 'SRV'));
  });
});

describe('frontend answers: sync state and startup', () => {
  const unsynced = { ...testView(), clusters: [{ id: 'c1', synced: true }, { id: 'c2', synced: false }] };
  const table = compileAnswers(unsynced, [Z], 5);

  it('answers SERVFAIL instead of NXDOMAIN while a cluster has not synced', () => {
    check(table, { qname: `nope.prod.svc.${Z}`, qtype: 'A', rcode: 'SERVFAIL', flags: 'qr rd' });
  });

  it('still answers existing names and NODATA while unsynced', () => {
    check(table, { qname: `web.prod.svc.${Z}`, qtype: 'A', rcode: 'NOERROR', answer: [`web.prod.svc.${Z} 5 A 10.0.0.10`] });
    check(table, nodata(`prod.svc.${Z}`, 'A'));
    check(table, { qname: 'example.com', qtype: 'A', rcode: 'REFUSED', flags: 'qr rd' });
  });

  it('answers SERVFAIL for every name in the zones before the first snapshot, REFUSED outside', () => {
    const pending = pendingAnswers([Z], 5);
    check(pending, { qname: `web.prod.svc.${Z}`, qtype: 'A', rcode: 'SERVFAIL', flags: 'qr rd' });
    check(pending, { qname: Z, qtype: 'SOA', rcode: 'SERVFAIL', flags: 'qr rd' });
    check(pending, { qname: 'example.com', qtype: 'A', rcode: 'REFUSED', flags: 'qr rd' });
    assert.equal(pending.version, undefined);
  });

  it('rejects a zone that is not a domain name, and a TTL that is not whole seconds', () => {
    assert.throws(() => pendingAnswers(['bad zone'], 5), /invalid zone name/);
    assert.throws(() => compileAnswers(testView(), [Z], -1), /invalid TTL/);
    assert.throws(() => compileAnswers(testView(), [Z], 2.5), /invalid TTL/);
  });
});

describe('frontend answers: zones', () => {
  const inner = `east.${Z}`;
  const table = compileAnswers(testView(), [Z, `${inner}.`, 'Other.Example'], 5, fixedOrder);

  const cases: Case[] = [
    { qname: `web.prod.svc.${inner}`, qtype: 'A', rcode: 'NOERROR', answer: [`web.prod.svc.${inner} 5 A 10.0.0.10`] },
    { qname: `web.prod.svc.${Z}`, qtype: 'A', rcode: 'NOERROR', answer: [`web.prod.svc.${Z} 5 A 10.0.0.10`] },
    { qname: `web.prod.svc.other.example`, qtype: 'A', rcode: 'NOERROR', answer: [`web.prod.svc.other.example 5 A 10.0.0.10`] },
    // The longest zone wins: its SOA, its apex.
    nxdomain(`nope.${inner}`, 'A', inner),
    { qname: inner, qtype: 'SOA', rcode: 'NOERROR', answer: [soa(inner)] },
    nodata(`svc.${inner}`, 'A', inner),
    { qname: `_pg._tcp.db.prod.svc.${inner}`, qtype: 'SRV', rcode: 'NOERROR', answer: dbTargets.map((t) => `_pg._tcp.db.prod.svc.${inner} 5 SRV 0 25 5432 ${t}.${inner}`), additional: [`10-2-0-9.c2.db.prod.svc.${inner} 5 A 10.2.0.9`, `db-0.c1.db.prod.svc.${inner} 5 A 10.1.0.1`, `db-0.c2.db.prod.svc.${inner} 5 A 10.2.0.1`, `fd00--9.c2.db.prod.svc.${inner} 5 AAAA fd00::9`] },
    { qname: 'example', qtype: 'A', rcode: 'REFUSED', flags: 'qr rd' },
  ];
  for (const c of cases) it(`${c.qname} ${c.qtype} → ${c.rcode}`, () => check(table, c));

  it('serves the root zone', () => {
    check(compileAnswers(testView(), ['.'], 5), { qname: 'web.prod.svc', qtype: 'A', rcode: 'NOERROR', answer: ['web.prod.svc 5 A 10.0.0.10'] });
  });
});

describe('frontend answers: EDNS0 and truncation', () => {
  const table = compileAnswers(testView(), [Z], 5, fixedOrder);
  const big = `big.prod.svc.${Z}`;
  const opt = (p: Decoded) => p.additionals.filter((r) => r.type === 'OPT') as unknown as { udpPayloadSize: number; ednsVersion: number; extendedRcode: number }[];

  it('echoes OPT with our payload size when the query has one, and only then', () => {
    const withEdns = ask(table, `web.prod.svc.${Z}`, 'A', { edns: 4096 });
    assert.deepEqual(opt(withEdns).map((o) => [o.udpPayloadSize, o.ednsVersion, o.extendedRcode]), [[1232, 0, 0]]);
    assert.deepEqual(opt(ask(table, `web.prod.svc.${Z}`, 'A')), []);
    assert.deepEqual(opt(ask(table, `nope.${Z}`, 'A', { edns: 1232 })).length, 1);
    assert.deepEqual(opt(ask(table, 'example.com', 'A', { edns: 1232 })).length, 1);
  });

  it('answers BADVERS to an EDNS version it does not speak', () => {
    const packet = query(`web.prod.svc.${Z}`, 'A', { edns: 1232 });
    packet[packet.length - 5] = 1; // OPT VERSION: the OPT record ends the packet, 11 octets, no options
    const response = respond(packet, table, 'udp');
    assert.ok(response);
    const p = decode(response);
    assert.deepEqual(p.answers, []);
    assert.deepEqual(opt(p).map((o) => [o.extendedRcode, o.ednsVersion]), [[1, 0]]);
  });

  it('sets TC over UDP when the answer does not fit in 512 octets, header and question only', () => {
    check(table, { qname: big, qtype: 'A', rcode: 'NOERROR', flags: 'qr aa tc rd' });
    const p = ask(table, big, 'A', { edns: 512 });
    assert.equal(flagsOf(p), 'qr aa tc rd');
    assert.deepEqual([p.answers.length, opt(p).length], [0, 1]);
    assert.equal(ask(table, big, 'A', { edns: 100 }).flag_tc, true, 'an advertised size under 512 counts as 512');
  });

  it('uses the advertised UDP size up to 1232, and gives the whole answer over TCP', () => {
    const p = ask(table, big, 'A', { edns: 1232 });
    assert.equal(p.flag_tc, false);
    assert.equal(p.answers.length, 40);
    const tcp = ask(table, big, 'A', { transport: 'tcp' });
    assert.equal(tcp.flag_tc, false);
    assert.deepEqual(tcp.answers.map(show), Array.from({ length: 40 }, (_, i) => `${big} 5 A 10.9.0.${i + 1}`));
  });
});

describe('frontend answers: malformed queries', () => {
  const table = compileAnswers(testView(), [Z], 5);
  const good = () => query(`web.prod.svc.${Z}`, 'A');
  const header = (r: Buffer | undefined) => {
    assert.ok(r, 'an answer');
    return { id: r.readUInt16BE(0), flags: r.readUInt16BE(2), rcode: r.readUInt16BE(2) & 0xf, counts: [4, 6, 8, 10].map((o) => r.readUInt16BE(o)), length: r.length };
  };

  it('stays silent for packets without a header and for responses', () => {
    assert.equal(respond(Buffer.from([1, 2, 3]), table, 'udp'), undefined);
    const response = good();
    response[2]! |= 0x80;
    assert.equal(respond(response, table, 'udp'), undefined);
  });

  it('answers FORMERR (header only) for a question count other than 1 and for broken questions', () => {
    const mutations: [string, (p: Buffer) => Buffer][] = [
      ['QDCOUNT 0', (p) => (p.writeUInt16BE(0, 4), p)],
      ['QDCOUNT 2', (p) => (p.writeUInt16BE(2, 4), p)],
      ['question cut short', (p) => p.subarray(0, p.length - 3)],
      ['name cut short', (p) => p.subarray(0, 16)],
      ['compression pointer in the question', (p) => Buffer.concat([p.subarray(0, 12), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])])],
      ['label of 64 octets', (p) => Buffer.concat([p.subarray(0, 12), Buffer.from([64]), Buffer.alloc(64, 0x61), Buffer.from([0, 0, 1, 0, 1])])],
      ['name of 256 octets', (p) => Buffer.concat([p.subarray(0, 12), ...Array.from({ length: 4 }, () => Buffer.concat([Buffer.from([63]), Buffer.alloc(63, 0x61)])), Buffer.from([2, 0x61, 0x61, 0, 0, 1, 0, 1])])],
      ['additional record cut short', (p) => Buffer.concat([p.subarray(0, 10), Buffer.from([0, 1]), p.subarray(12), Buffer.from([0, 0, 41])])],
    ];
    for (const [what, mutate] of mutations) {
      const h = header(respond(mutate(good()), table, 'udp'));
      assert.deepEqual({ id: h.id, rcode: h.rcode, counts: h.counts, length: h.length, qr: (h.flags & 0x8000) !== 0 }, { id: 0x1234, rcode: 1, counts: [0, 0, 0, 0], length: 12, qr: true }, what);
    }
  });

  it('accepts a name of exactly 255 octets', () => {
    const labels = Array.from({ length: 3 }, () => Buffer.concat([Buffer.from([63]), Buffer.alloc(63, 0x61)]));
    const packet = Buffer.concat([good().subarray(0, 12), ...labels, Buffer.from([61]), Buffer.alloc(61, 0x61), Buffer.from([0, 0, 1, 0, 1])]);
    assert.equal(header(respond(packet, table, 'udp')).rcode, 5); // outside the zone, but read
  });

  it('answers NOTIMP for opcodes other than QUERY, echoing the opcode', () => {
    const packet = good();
    packet.writeUInt16BE(0x2800 | 0x0100, 2); // UPDATE, RD
    const h = header(respond(packet, table, 'udp'));
    assert.deepEqual([h.flags & 0x7800, h.rcode, h.flags & 0x0100], [0x2800, 4, 0x0100]);
  });

  it('finds OPT after other records, skipping compressed names', () => {
    const packet = dnsPacket.encode({
      type: 'query',
      id: 0x1234,
      questions: [{ name: `web.prod.svc.${Z}`, type: 'A', class: 'IN' }],
      answers: [{ type: 'A', name: `web.prod.svc.${Z}`, ttl: 1, data: '10.0.0.1' }],
      additionals: [{ type: 'TXT', name: 'x', data: 'y' }, { type: 'OPT', name: '.', udpPayloadSize: 4096 } as dnsPacket.Answer],
    });
    // dns-packet does not compress: point the answer's owner at the question.
    const owner = packet.indexOf(Buffer.from(`\x03web`), 20);
    const compressed = Buffer.concat([packet.subarray(0, owner), Buffer.from([0xc0, 0x0c]), packet.subarray(owner + 1 + `web.prod.svc.${Z}`.length + 1)]);
    const p = decode(respond(compressed, table, 'udp')!);
    assert.equal(p.rcode, 'NOERROR');
    assert.equal(p.additionals.filter((r) => r.type === 'OPT').length, 1);
  });
});

describe('frontend answers: deltas', () => {
  const queries: [string, string][] = [
    [`v4.prod.svc.${Z}`, 'A'],
    [`db.prod.svc.${Z}`, 'A'],
    [`db-0.c1.db.prod.svc.${Z}`, 'A'],
    [`c1.db.prod.svc.${Z}`, 'A'],
    [`idle.svc.${Z}`, 'A'],
    [`new.svc.${Z}`, 'A'],
    [`other.svc.${Z}`, 'A'],
    [`api.other.svc.${Z}`, 'A'],
    [`prod.svc.${Z}`, 'A'],
    [`fresh.new.svc.${Z}`, 'SRV'],
    [`_http._tcp.fresh.new.svc.${Z}`, 'SRV'],
    [`web.prod.svc.${Z}`, 'AAAA'],
    [`nope.${Z}`, 'A'],
    [Z, 'SOA'],
  ];
  const delta: ViewDelta = {
    from: 42,
    to: 45,
    namespaces: { add: ['new'], remove: ['idle'] },
    services: {
      upsert: {
        'prod/v4': { names: { 'v4.prod.svc': [A('10.0.0.21')] } },
        'new/fresh': { names: { 'fresh.new.svc': [A('10.4.0.1'), SRV(80, 'fresh.new.svc')], '_http._tcp.fresh.new.svc': [SRV(80, 'fresh.new.svc')] } },
      },
      remove: ['prod/db', 'other/api'],
    },
  };
  const responses = (table: AnswerTable) => queries.map(([name, type]) => respond(query(name, type), table, 'udp')!.toString('hex'));

  it('gives the answers a fresh compile of the resulting view gives', () => {
    const table = compileAnswers(testView(), [Z, `east.${Z}`], 5, fixedOrder);
    assert.equal(applyDelta(table, delta), true);
    const view = testView();
    assert.equal(applyViewDelta(view, delta), true);
    assert.deepEqual(responses(table), responses(compileAnswers(view, [Z, `east.${Z}`], 5, fixedOrder)));
    assert.equal(table.version, 45);
  });

  it('applies upserts, removals, namespaces and the SOA serial', () => {
    const table = compileAnswers(testView(), [Z], 5);
    applyDelta(table, delta);
    check(table, { qname: `v4.prod.svc.${Z}`, qtype: 'A', rcode: 'NOERROR', answer: [`v4.prod.svc.${Z} 5 A 10.0.0.21`] });
    check(table, { qname: `fresh.new.svc.${Z}`, qtype: 'SRV', rcode: 'NOERROR', answer: [`fresh.new.svc.${Z} 5 SRV 0 100 80 fresh.new.svc.${Z}`], additional: [`fresh.new.svc.${Z} 5 A 10.4.0.1`] });
    check(table, nxdomain(`db.prod.svc.${Z}`, 'A', Z, 45));
    check(table, nxdomain(`c1.db.prod.svc.${Z}`, 'A', Z, 45)); // its empty non-terminals went with it
    check(table, nxdomain(`other.svc.${Z}`, 'A', Z, 45));
    check(table, nxdomain(`idle.svc.${Z}`, 'A', Z, 45));
    check(table, nodata(`new.svc.${Z}`, 'A', Z, 45));
    check(table, { qname: Z, qtype: 'SOA', rcode: 'NOERROR', answer: [soa(Z, 45)] });
    check(table, nodata(`prod.svc.${Z}`, 'A', Z, 45));
  });

  it('follows the clusters: SERVFAIL for missing names until all have synced', () => {
    const table = compileAnswers(testView(), [Z], 5);
    const clusters = (synced: boolean) => [{ id: 'c1', synced: true }, { id: 'c3', synced }];
    applyDelta(table, { from: 42, to: 43, clusters: clusters(false), services: { upsert: {}, remove: [] } });
    check(table, { qname: `nope.${Z}`, qtype: 'A', rcode: 'SERVFAIL', flags: 'qr rd' });
    applyDelta(table, { from: 43, to: 44, clusters: clusters(true), services: { upsert: {}, remove: [] } });
    check(table, nxdomain(`nope.${Z}`, 'A', Z, 44));
  });

  it('refuses a delta that does not start at its version and changes nothing', () => {
    const table = compileAnswers(testView(), [Z], 5, fixedOrder);
    const before = responses(table);
    assert.equal(applyDelta(table, { ...delta, from: 41 }), false);
    assert.equal(applyDelta(pendingAnswers([Z], 5), delta), false);
    assert.equal(table.version, 42);
    assert.deepEqual(responses(table), before);
  });
});
