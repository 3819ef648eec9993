// The per-cluster answer tables without sockets: after every delta, the
// table updated in place answers every client exactly as one compiled afresh
// from the view the delta leads to (shared/view.ts applyDelta).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { applyDelta, compileAnswers, type AnswerTable } from '../services/frontend/answers.js';
import { respond, type ViewRouting } from '../services/frontend/respond.js';
import { applyDelta as applyViewDelta, type DnsView, type ServiceRecords, type ViewDelta } from '../shared/view.js';
import { encodeQuery, Z } from './frontend-messages.js';

const CLUSTERS = ['east', 'west'];
const CLIENTS = ['10.0.0.1', '10.1.0.1', '10.9.0.1']; // east, west, neither

function routing(): ViewRouting {
  const list = (cidr: string) => {
    const l = new net.BlockList();
    l.addSubnet(cidr, 16, 'ipv4');
    return l;
  };
  const anyView = new net.BlockList();
  anyView.addSubnet('10.0.0.0', 15, 'ipv4');
  return { anyView, views: [{ view: 0, networks: list('10.0.0.0') }, { view: 1, networks: list('10.1.0.0') }], trustEcs: undefined };
}

const service = (svc: string, ...ips: string[]): ServiceRecords => {
  const names: ServiceRecords['names'] = { [`${svc}.prod.svc`]: ips.map((address) => ({ type: 'A', address })) };
  ips.forEach((address, i) => (names[`pod-${i}.c${i % 2}.${svc}.prod.svc`] = [{ type: 'A', address }]));
  names[`_http._tcp.${svc}.prod.svc`] = [{ type: 'SRV', priority: 0, weight: 1, port: 80, target: `${svc}.prod.svc` }];
  return { names };
};

const NAMES = ['web', 'db', 'api'].flatMap((svc) => [`${svc}.prod.svc`, `pod-0.c0.${svc}.prod.svc`, `pod-1.c1.${svc}.prod.svc`, `c1.${svc}.prod.svc`, `_http._tcp.${svc}.prod.svc`]).concat(['prod.svc', 'svc', 'nope.prod.svc']);

function start(): DnsView {
  return {
    version: 1,
    clusters: CLUSTERS.map((id) => ({ id, synced: true })),
    namespaces: ['prod'],
    services: { 'prod/web': service('web', '1.1.1.1', '1.1.1.2'), 'prod/db': service('db', '2.2.2.1', '2.2.2.2') },
    views: { east: { 'prod/web': service('web', '1.1.1.1') }, west: { 'prod/db': null } },
  };
}

const none = { upsert: {}, remove: [] };
const DELTAS: Omit<ViewDelta, 'from' | 'to'>[] = [
  { services: none, views: { east: { upsert: { 'prod/db': null, 'prod/api': service('api', '3.3.3.3') }, remove: ['prod/web'] } } },
  { services: { upsert: { 'prod/db': service('db', '2.2.2.9'), 'prod/api': service('api', '3.3.3.1', '3.3.3.2') }, remove: ['prod/web'] } },
  { services: none, views: { west: { upsert: { 'prod/db': service('db', '2.2.2.2'), 'prod/web': null }, remove: [] } } },
  { services: none, clusters: [{ id: 'east', synced: false }, { id: 'west', synced: true }] },
  { services: { upsert: {}, remove: ['prod/db'] }, namespaces: { add: ['dev'], remove: [] } },
  { services: { upsert: { 'prod/web': service('web', '1.1.1.5') }, remove: [] }, views: { west: { upsert: {}, remove: ['prod/db', 'prod/web'] } }, clusters: CLUSTERS.map((id) => ({ id, synced: true })) },
];

function answers(table: AnswerTable): string[] {
  const r = routing();
  return CLIENTS.flatMap((client) => NAMES.flatMap((name) => ['A', 'SRV'].map((type) => respond(encodeQuery(`${name}.${Z}`, type), table, 'udp', undefined, client, r)!.toString('hex'))));
}

describe('frontend: per-cluster answer tables', () => {
  it('answers after each delta as a table compiled from the resulting view', () => {
    const view = start();
    const table = compileAnswers(structuredClone(view), [Z], 5, { rotate: false }, CLUSTERS);
    assert.deepEqual(answers(table), answers(compileAnswers(view, [Z], 5, { rotate: false }, CLUSTERS)));
    DELTAS.forEach((fields, i) => {
      const delta: ViewDelta = { from: view.version, to: view.version + 1, ...structuredClone(fields) };
      assert.ok(applyDelta(table, structuredClone(delta)), `delta ${i} applies`);
      assert.ok(applyViewDelta(view, delta));
      assert.deepEqual(answers(table), answers(compileAnswers(view, [Z], 5, { rotate: false }, CLUSTERS)), `after delta ${i}`);
    });
  });

  it('gives clients of different clusters different answers where the overlays differ', () => {
    const table = compileAnswers(start(), [Z], 5, { rotate: false }, CLUSTERS);
    const [east, west, neither] = CLIENTS.map((client) => respond(encodeQuery(`db.prod.svc.${Z}`, 'A'), table, 'udp', undefined, client, routing())!);
    assert.equal(west![3]! & 0x0f, 3, 'west: NXDOMAIN');
    assert.equal(east!.readUInt16BE(6), 2, 'east: the union');
    assert.deepEqual(neither, east);
  });
});
