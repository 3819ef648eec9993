// mergeDeltas: one delta doing what two do in turn, over random views and
// deltas; and the cases it refuses.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from './support/random.js';
import { applyDelta, mergeDeltas, type DnsView, type ServiceRecords, type ViewDelta } from '../shared/view.js';

const KEYS = ['prod/a', 'prod/b', 'prod/c', 'dev/d'];
const CLUSTERS = ['east', 'west'];
const NAMESPACES = ['prod', 'dev', 'test'];

function generator(seed: number) {
  const random = seededRandom(seed);
  const next = (n: number) => Math.floor(random() * n);
  const records = (): ServiceRecords => ({ names: { [`s${next(100)}.prod.svc`]: [{ type: 'A', address: `10.0.0.${next(255)}` }] } });
  const some = (list: string[]) => list.filter(() => next(3) === 0);
  const changes = <T>(value: () => T) => {
    const upsert: Record<string, T> = {};
    for (const key of some(KEYS)) upsert[key] = value();
    return { upsert, remove: some(KEYS).filter((k) => !Object.hasOwn(upsert, k)) };
  };
  const delta = (from: number, withClusters: boolean): ViewDelta => {
    const d: ViewDelta = { from, to: from + 1 + next(3), services: changes(records) };
    if (next(2) === 0) d.views = Object.fromEntries(some(CLUSTERS).map((c) => [c, changes(() => (next(4) === 0 ? null : records()))]));
    if (next(2) === 0) d.namespaces = { add: some(NAMESPACES), remove: some(NAMESPACES) };
    if (withClusters) d.clusters = CLUSTERS.map((id) => ({ id, synced: next(3) > 0 }));
    if (next(2) === 0) d.observedAt = [next(1000)];
    return d;
  };
  const view = (): DnsView => ({
    version: 10,
    clusters: CLUSTERS.map((id) => ({ id, synced: true })),
    namespaces: some(NAMESPACES).sort(),
    services: Object.fromEntries(some(KEYS).map((k) => [k, records()])),
    views: { east: Object.fromEntries(some(KEYS).map((k) => [k, records()])) },
  });
  return { delta, view, next };
}

// Deltas as the aggregator makes them only add namespaces it did not have and
// remove ones it had: drop the others against the view they apply to.
function consistent(view: DnsView, delta: ViewDelta): ViewDelta {
  if (!delta.namespaces) return delta;
  const known = new Set(view.namespaces);
  const add = delta.namespaces.add.filter((n) => !known.has(n));
  const remove = delta.namespaces.remove.filter((n) => known.has(n) && !add.includes(n));
  return { ...delta, namespaces: { add, remove } };
}

describe('mergeDeltas', () => {
  it('does what the deltas do in turn', () => {
    for (let round = 0; round < 500; round++) {
      const g = generator(round + 1);
      const start = g.view();
      const stepwise = structuredClone(start);
      const deltas: ViewDelta[] = [];
      // Two or three deltas; only the last may change the clusters.
      for (let i = 0, n = 2 + g.next(2); i < n; i++) {
        const d = consistent(stepwise, g.delta(deltas.at(-1)?.to ?? start.version, i === n - 1 && g.next(2) === 0));
        assert.ok(applyDelta(stepwise, structuredClone(d)));
        deltas.push(d);
      }
      const merged = mergeDeltas(deltas);
      assert.ok(merged, `round ${round}: mergeable`);
      const once = structuredClone(start);
      assert.ok(applyDelta(once, merged));
      assert.deepEqual(once, stepwise, `round ${round}`);
      assert.deepEqual(merged.observedAt ?? [], deltas.flatMap((d) => d.observedAt ?? []));
    }
  });

  it('refuses deltas that do not follow each other, and a change of the clusters before the last', () => {
    const none = { upsert: {}, remove: [] };
    assert.equal(mergeDeltas([{ from: 1, to: 2, services: none }, { from: 3, to: 4, services: none }]), undefined);
    assert.equal(mergeDeltas([{ from: 1, to: 2, services: none, clusters: [] }, { from: 2, to: 3, services: none }]), undefined);
    assert.deepEqual(mergeDeltas([{ from: 1, to: 2, services: none }, { from: 2, to: 3, services: none, clusters: [] }]), { from: 1, to: 3, services: none, clusters: [] });
    assert.equal(mergeDeltas([]), undefined);
  });
});
