// --prefer-own-cluster: a --view client gets the endpoints of its own cluster
// first, each group rotated on its own; without the option, or for clients of
// no view, the order is the union's. Answers through respond(), no sockets.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { applyDelta, compileAnswers, type AnswerOptions, type AnswerTable } from '../services/frontend/answers.js';
import { respond, type ViewRouting } from '../services/frontend/respond.js';
import type { EndpointSliceObject, ServiceImportObject } from '../shared/events.js';
import { serviceRecords, type SliceRow } from '../shared/recordModel.js';
import type { DnsView, ServiceRecords } from '../shared/view.js';
import { Z, decode, encodeQuery, withoutOpt } from './frontend-messages.js';

const EAST_CLIENT = '10.0.0.1';
const NO_VIEW_CLIENT = '10.9.0.1';
const EAST = ['10.1.0.1', '10.1.0.2'];
const WEST = ['10.2.0.1', '10.2.0.2', '10.2.0.3'];

function routing(): ViewRouting {
  const east = new net.BlockList();
  east.addSubnet('10.0.0.0', 16, 'ipv4');
  return { anyView: east, views: [{ view: 0, networks: east }], trustEcs: undefined };
}

const headless: ServiceImportObject = { type: 'Headless', ips: [], ports: [{ name: 'http', protocol: 'TCP', port: 80 }] };
const slice = (cluster: string, addresses: string[]): SliceRow => {
  const object: EndpointSliceObject = {
    serviceName: 'mix',
    sourceCluster: cluster,
    addressType: 'IPv4',
    endpoints: addresses.map((a, i) => ({ addresses: [a], hostname: `${cluster}-${i}`, ready: true })),
    ports: headless.ports,
  };
  return { cluster: 'east', object }; // both slices as east imports them
};

// `mix`: a headless service with endpoints in east and west, as every cluster sees it.
function records(east = EAST, west = WEST): ServiceRecords {
  const slices = [slice('east', east), slice('west', west)];
  return serviceRecords('prod', 'mix', [{ cluster: 'east', object: headless }], slices)!;
}

function view(withOverlay: boolean): DnsView {
  const mix = records();
  return {
    version: 1,
    clusters: [{ id: 'east', synced: true }, { id: 'west', synced: true }],
    namespaces: ['prod'],
    services: { 'prod/mix': mix },
    // East's own view holds the same records when it imports every slice: no overlay.
    ...(withOverlay ? { views: { east: { 'prod/mix': structuredClone(mix) } } } : {}),
  };
}

const table = (options: AnswerOptions, withOverlay = false): AnswerTable => compileAnswers(view(withOverlay), [Z], 5, options, ['east']);

function series(t: AnswerTable, client: string, qname: string, qtype: string, n: number) {
  return Array.from({ length: n }, () => decode(respond(encodeQuery(qname, qtype), t, 'udp', undefined, client, routing())!));
}
const mix = `mix.prod.svc.${Z}`;
const addresses = (qtype = 'A') => (p: ReturnType<typeof decode>) => p.answers.filter((a) => a.type === qtype).map((a) => String((a as { data: string }).data));
const rotations = (list: string[]) => list.map((_, i) => [...list.slice(i), ...list.slice(0, i)]);

describe('--prefer-own-cluster', () => {
  const ownRotations = rotations(EAST);
  const otherRotations = rotations(WEST);
  const preferred = (n: number, take = Infinity) => Array.from({ length: n }, (_, i) => [...ownRotations[i % 2]!, ...otherRotations[i % 3]!].slice(0, take));

  for (const withOverlay of [false, true]) {
    const how = withOverlay ? 'from its overlay' : 'from the union';
    it(`rotates own and other endpoints each on their own, ${how}`, () => {
      assert.deepEqual(series(table({ preferOwnCluster: true }, withOverlay), EAST_CLIENT, mix, 'A', 7).map(addresses()), preferred(7));
    });
  }

  it('takes --max-endpoints from the own group first', () => {
    assert.deepEqual(series(table({ preferOwnCluster: true, maxEndpoints: 3 }), EAST_CLIENT, mix, 'A', 6).map(addresses()), preferred(6, 3));
    assert.deepEqual(series(table({ preferOwnCluster: true, maxEndpoints: 1 }), EAST_CLIENT, mix, 'A', 3).map(addresses()), [['10.1.0.1'], ['10.1.0.2'], ['10.1.0.1']]);
  });

  it('keeps own endpoints first in a fixed order without round robin', () => {
    const fixed = [...EAST, ...WEST];
    assert.deepEqual(series(table({ preferOwnCluster: true, rotate: false }), EAST_CLIENT, mix, 'A', 3).map(addresses()), [fixed, fixed, fixed]);
  });

  it('orders SRV records by their targets, with the additional addresses following', () => {
    const srv = series(table({ preferOwnCluster: true, maxEndpoints: 3 }), EAST_CLIENT, `_http._tcp.${mix}`, 'SRV', 4);
    for (const [i, p] of srv.entries()) {
      const targets = p.answers.map((a) => (a as { data: { target: string } }).data.target);
      assert.equal(targets.length, 3);
      assert.deepEqual(targets.slice(0, 2).map((t) => t.split('.')[1]), ['east', 'east'], `response ${i}: own first`);
      assert.equal(targets[2]!.split('.')[1], 'west');
      assert.deepEqual(withoutOpt(p.additionals).map((r) => r.name), targets);
    }
  });

  it('changes nothing for clients of no view, nor without the option', () => {
    const union = rotations([...EAST, ...WEST]);
    assert.deepEqual(series(table({ preferOwnCluster: true }), NO_VIEW_CLIENT, mix, 'A', 5).map(addresses()), union);
    assert.deepEqual(series(table({}), EAST_CLIENT, mix, 'A', 5).map(addresses()), union);
  });

  it('follows deltas of the union', () => {
    const t = table({ preferOwnCluster: true });
    assert.ok(applyDelta(t, { from: 1, to: 2, services: { upsert: { 'prod/mix': records(['10.1.0.9'], ['10.2.0.9']) }, remove: [] } }));
    assert.deepEqual(series(t, EAST_CLIENT, mix, 'A', 2).map(addresses()), [['10.1.0.9', '10.2.0.9'], ['10.1.0.9', '10.2.0.9']]);
    assert.ok(applyDelta(t, { from: 2, to: 3, services: { upsert: {}, remove: ['prod/mix'] } }));
    assert.equal(decode(respond(encodeQuery(mix, 'A'), t, 'udp', undefined, EAST_CLIENT, routing())!).answers.length, 0);
  });
});
