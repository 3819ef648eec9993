// A service's name and its only port's _port._proto name answer SRV alike:
// the answer table compiles that RRset once, for both (rrset.ts). Checked:
// both names find the same octets, answer what the record model says, are
// both transferred, and stay right across deltas and the arena's compaction;
// services whose SRV RRsets differ keep one each.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import { applyDelta, compileAnswers, lookup, type AnswerTable } from '../services/frontend/answers.js';
import { respond } from '../services/frontend/respond.js';
import { transferMessages } from '../services/frontend/transfer.js';
import { parseQuery, type Query } from '../services/frontend/wire.js';
import type { ServicePort } from '../shared/events.js';
import { serviceRecords } from '../shared/recordModel.js';
import type { DnsView, ServiceRecords, ViewDelta } from '../shared/view.js';
import { Z, decode, encodeQuery } from './frontend-messages.js';

const HTTP: ServicePort = { name: 'http', protocol: 'TCP', port: 80 };
const DNS: ServicePort = { name: 'dns', protocol: 'UDP', port: 53 };

function headless(name: string, ports: ServicePort[], pods: number, round = 0): ServiceRecords {
  const endpoints = Array.from({ length: pods }, (_, i) => ({ addresses: [`10.${round % 250}.${i >> 8}.${i & 255}`], ready: true, hostname: `pod-${i}` }));
  return serviceRecords('prod', name, [{ cluster: 'east', object: { type: 'Headless', ips: [], ports } }], [{ cluster: 'east', object: { serviceName: name, addressType: 'IPv4', endpoints, ports } }])!;
}

function clusterSetIp(name: string, ips: string[], ports: ServicePort[]): ServiceRecords {
  return serviceRecords('prod', name, [{ cluster: 'east', object: { type: 'ClusterSetIP', ips, ports } }], [])!;
}

const view = (version: number, services: Record<string, ServiceRecords>): DnsView => ({ version, clusters: [{ id: 'east', synced: true }], namespaces: ['prod'], services });

const SERVICES = {
  'prod/db': headless('db', [HTTP], 40),
  'prod/web': clusterSetIp('web', ['172.16.0.1'], [HTTP]),
  'prod/no-ip': clusterSetIp('no-ip', [], [HTTP]), // no A RRset before its SRV RRset: nothing to share it after
  'prod/two': headless('two', [HTTP, DNS], 3), // its name's SRV RRset holds both ports'
};

function query(name: string, type: string): { packet: Buffer; query: Query } {
  const packet = encodeQuery(`${name}.${Z}`, type);
  return { packet, query: parseQuery(packet) as Query };
}

// Where the SRV RRset of `name` is compiled.
function srvAt(table: AnswerTable, name: string): string {
  const q = query(name, 'SRV');
  const found = lookup(table, q.packet, q.query);
  return `${table.arena.chunks.indexOf(found.block)}:${found.at}`;
}

function ask(table: AnswerTable, name: string, type: string): { rcode: string; answers: string[]; additionals: string[] } {
  const p = decode(respond(encodeQuery(`${name}.${Z}`, type), table, 'tcp')!);
  const show = (r: dnsPacket.Answer) => `${r.type} ${JSON.stringify((r as { data: unknown }).data)}`;
  return { rcode: p.rcode, answers: p.answers.map(show).sort(), additionals: p.additionals.filter((r) => r.type !== 'OPT').map((r) => `${r.name} ${show(r)}`).sort() };
}

// Every name of every service answers A, AAAA and SRV as a table compiled afresh from `expected` does.
function assertAnswersOf(table: AnswerTable, expected: DnsView, label: string): void {
  const fresh = compileAnswers(structuredClone(expected), [Z], 5, { rotate: false });
  for (const records of Object.values(expected.services)) {
    for (const name of Object.keys(records.names)) {
      for (const type of ['A', 'AAAA', 'SRV']) assert.deepEqual(ask(table, name, type), ask(fresh, name, type), `${label}: ${name} ${type}`);
    }
  }
}

describe('frontend table: SRV RRsets shared by a service name and its only port', () => {
  it('finds one RRset at both names when the service has one named port and an address', () => {
    const table = compileAnswers(view(1, structuredClone(SERVICES)), [Z], 5, { rotate: false });
    assert.equal(srvAt(table, 'db.prod.svc'), srvAt(table, '_http._tcp.db.prod.svc'));
    assert.equal(srvAt(table, 'web.prod.svc'), srvAt(table, '_http._tcp.web.prod.svc'));
    assert.notEqual(srvAt(table, 'no-ip.prod.svc'), srvAt(table, '_http._tcp.no-ip.prod.svc'));
    assert.notEqual(srvAt(table, 'two.prod.svc'), srvAt(table, '_http._tcp.two.prod.svc'));
  });

  it('answers at both names what the record model holds, the targets\' addresses as additional records', () => {
    const table = compileAnswers(view(1, structuredClone(SERVICES)), [Z], 5, { rotate: false });
    for (const [name, port] of [
      ['db.prod.svc', '_http._tcp.db.prod.svc'],
      ['web.prod.svc', '_http._tcp.web.prod.svc'],
    ] as const) {
      const service = ask(table, name, 'SRV');
      assert.deepEqual(ask(table, port, 'SRV'), service);
      const records = Object.values(SERVICES).find((s) => s.names[name])!;
      assert.deepEqual(service.answers, records.names[port]!.map((r) => r.type === 'SRV' && `SRV ${JSON.stringify({ priority: r.priority, weight: r.weight, port: r.port, target: `${r.target}.${Z}` })}`).sort());
      assert.equal(service.additionals.length, records.names[port]!.length, `${name}: one address per target`);
      assert.deepEqual(ask(table, name, 'A').answers.length > 0, true);
      assert.equal(ask(table, port, 'A').rcode, 'NOERROR');
      assert.deepEqual(ask(table, port, 'A').answers, [], `${port} has no A records`);
    }
    assertAnswersOf(table, view(1, SERVICES), 'compiled');
  });

  it('transfers the SRV records at both names', () => {
    const table = compileAnswers(view(1, structuredClone(SERVICES)), [Z], 5, { rotate: false });
    const records = transferMessages(table, encodeQuery(Z, 'AXFR'))!.flatMap((m) => decode(m).answers);
    const srvAt = (owner: string) => records.filter((r) => r.type === 'SRV' && r.name === `${owner}.${Z}`).length;
    assert.equal(srvAt('db.prod.svc'), 40);
    assert.equal(srvAt('_http._tcp.db.prod.svc'), 40);
    assert.equal(srvAt('web.prod.svc'), 1);
    assert.equal(srvAt('_http._tcp.web.prod.svc'), 1);
    assert.equal(records.filter((r) => r.type === 'A' && r.name.endsWith(`.db.prod.svc.${Z}`)).length, 40, 'every pod name once');
  });

  it('stays right across deltas, and after the arena slid what is in use together', () => {
    const services = (round: number) => Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`prod/s${i}`, headless(`s${i}`, [HTTP], 30, round)]));
    let expected = view(1, services(0));
    const table = compileAnswers(structuredClone(expected), [Z], 5, { rotate: false });
    const chunks = [table.arena.chunks.length];
    for (let round = 1; round <= 12; round++) {
      const next = view(round + 1, services(round));
      const delta: ViewDelta = { from: round, to: round + 1, services: { upsert: structuredClone(next.services), remove: [] } };
      assert.ok(applyDelta(table, delta));
      expected = next;
      chunks.push(table.arena.chunks.length);
    }
    assert.ok(chunks.some((count, round) => count < chunks[round - 1]!), `compacted at least once: ${chunks.join(' ')} chunks`);
    assert.equal(srvAt(table, 's7.prod.svc'), srvAt(table, '_http._tcp.s7.prod.svc'));
    assertAnswersOf(table, expected, 'after 12 deltas');
    const removed: ViewDelta = { from: 13, to: 14, services: { upsert: {}, remove: ['prod/s7'] } };
    assert.ok(applyDelta(table, removed));
    for (const name of ['s7.prod.svc', '_http._tcp.s7.prod.svc', 'pod-0.east.s7.prod.svc']) assert.equal(ask(table, name, 'SRV').rcode, 'NXDOMAIN', name);
  });
});
