// Per-cluster overlays in the DNS view: how a delta changes them and how a
// client's cluster resolves a service.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyDelta, copyView, sameRecords, viewFor, type DnsView, type ServiceRecords, type ViewDelta, type ViewRecord } from '../shared/view.js';
import { isDeepStrictEqual } from 'node:util';
import { seededRandom } from './support/random.js';

const records = (address: string): ServiceRecords => ({ names: { 'web.prod.svc': [{ type: 'A', address }] } });
const union = records('10.0.0.9');
const synced = (...ids: string[]) => ids.map((id) => ({ id, synced: true }));

function given(views?: DnsView['views']): DnsView {
  return { version: 1, clusters: synced('east', 'west'), namespaces: ['prod'], services: { 'prod/web': union }, ...(views ? { views } : {}) };
}

function delta(fields: Partial<ViewDelta>, from = 1): ViewDelta {
  return { from, to: from + 1, services: { upsert: {}, remove: [] }, ...fields };
}

describe('view overlays: applying deltas', () => {
  it('adds an overlay, changes it, and sends the service back to the union', () => {
    const view = given();
    assert.ok(applyDelta(view, delta({ views: { east: { upsert: { 'prod/web': records('10.0.0.1') }, remove: [] } } })));
    assert.deepEqual(view.views, { east: { 'prod/web': records('10.0.0.1') } });
    assert.ok(applyDelta(view, delta({ views: { east: { upsert: { 'prod/web': null }, remove: [] }, west: { upsert: { 'prod/web': records('10.0.0.2') }, remove: [] } } }, 2)));
    assert.deepEqual(view.views, { east: { 'prod/web': null }, west: { 'prod/web': records('10.0.0.2') } });
    assert.ok(applyDelta(view, delta({ views: { east: { upsert: {}, remove: ['prod/web'] }, west: { upsert: {}, remove: ['prod/web'] } } }, 3)));
    assert.equal(view.version, 4);
    assert.equal('views' in view, false, 'no overlay left: no views field');
  });

  it('drops the overlay of a cluster the delta lists no longer, or as not synced', () => {
    const view = given({ east: { 'prod/web': null }, west: { 'prod/web': null } });
    assert.ok(applyDelta(view, delta({ clusters: [{ id: 'east', synced: true }] })));
    assert.deepEqual(view.views, { east: { 'prod/web': null } });
    assert.ok(applyDelta(view, delta({ clusters: [{ id: 'east', synced: false }] }, 2)));
    assert.equal(view.views, undefined);
  });

  it('leaves a view without overlays as it was when the delta has none', () => {
    const view = given();
    assert.ok(applyDelta(view, delta({ clusters: synced('east'), services: { upsert: { 'prod/api': union }, remove: [] } })));
    assert.deepEqual(view, { ...given(), version: 2, clusters: synced('east'), services: { 'prod/web': union, 'prod/api': union } });
  });

  it('leaves copies of the view made with copyView as they were', () => {
    const view = given({ east: { 'prod/web': null } });
    const copy = copyView(view);
    assert.ok(applyDelta(view, delta({ views: { east: { upsert: { 'prod/api': null }, remove: ['prod/web'] } } })));
    assert.deepEqual(copy.views, { east: { 'prod/web': null } });
    assert.deepEqual(view.views, { east: { 'prod/api': null } });
  });

  it('takes a cluster named like an Object property for a cluster', () => {
    const view = { ...given(), clusters: synced('constructor') };
    assert.ok(applyDelta(view, delta({ views: { constructor: { upsert: { 'prod/web': null }, remove: [] } } })));
    assert.deepEqual(view.views, { constructor: { 'prod/web': null } });
    assert.equal(viewFor(view, 'constructor', 'prod/web'), undefined);
  });

  it('changes nothing on a gap', () => {
    const view = given();
    assert.equal(applyDelta(view, delta({ views: { east: { upsert: { 'prod/web': null }, remove: [] } } }, 5)), false);
    assert.deepEqual(view, given());
  });
});

describe('view overlays: resolving a service for a client', () => {
  const view = given({ east: { 'prod/web': records('10.0.0.1'), 'prod/gone': null } });
  const cases: [string, string | undefined, string, ServiceRecords | undefined][] = [
    ['the overlay of the cluster of the client', 'east', 'prod/web', records('10.0.0.1')],
    ['null in the overlay: no name', 'east', 'prod/gone', undefined],
    ['a cluster without overlay: the union', 'west', 'prod/web', union],
    ['a cluster nobody knows: the union', 'south', 'prod/web', union],
    ['a client of no cluster: the union', undefined, 'prod/web', union],
    ['a cluster named like an Object property: the union', 'constructor', 'prod/web', union],
    ['a service in neither: nothing', 'east', 'prod/api', undefined],
    ['a key named like an Object property: nothing', 'east', 'constructor', undefined],
  ];
  for (const [title, cluster, key, want] of cases) {
    it(title, () => assert.deepEqual(viewFor(view, cluster, key), want));
  }
});

describe('sameRecords', () => {
  it('says what isDeepStrictEqual says of records, over random pairs', () => {
    const random = seededRandom(11);
    const pick = <T>(list: T[]): T => list[Math.floor(random() * list.length)]!;
    const record = (): ViewRecord =>
      pick([
        () => ({ type: 'A' as const, address: pick(['10.0.0.1', '10.0.0.2']) }),
        () => ({ type: 'AAAA' as const, address: pick(['fd00::1', '10.0.0.1']) }),
        () => ({ type: 'SRV' as const, priority: 0, weight: pick([50, 100]), port: pick([80, 53]), target: pick(['a.svc', 'b.svc']) }),
      ])();
    const records = (): ServiceRecords | undefined => {
      if (random() < 0.1) return undefined;
      const names: ServiceRecords['names'] = {};
      for (const name of ['web.prod.svc', 'x.web.prod.svc'].filter(() => random() < 0.7)) names[name] = Array.from({ length: Math.floor(random() * 3) }, record);
      return { names };
    };
    let equal = 0;
    for (let i = 0; i < 5000; i++) {
      const a = records();
      const b = random() < 0.3 ? structuredClone(a) : records();
      assert.equal(sameRecords(a, b), isDeepStrictEqual(a, b), JSON.stringify([a, b]));
      if (isDeepStrictEqual(a, b)) equal++;
    }
    assert.ok(equal > 500 && equal < 4500, `${equal} equal pairs`);
  });
});
