// The aggregator's objects in memory (services/aggregator/serviceObjects.ts)
// against the read model's rows: after any sequence of events, and after a
// batch that fails and rolls back, both give the same services.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { ChangeEvent, Kind } from '../shared/events.js';
import { Projection } from '../services/aggregator/projection.js';
import { ReadModel } from '../services/aggregator/readModel.js';
import type { ServiceRows } from '../services/aggregator/serviceObjects.js';
import { deleted, endpointSlice, item, ready, serviceImport, stored, syncBegin, syncEnd, tempDir } from './aggregator-events.js';
import { seededRandom } from './support/random.js';

const CLUSTERS = ['east', 'west'];
const NAMESPACES = ['prod', 'dev'];
const SERVICES = ['web', 'db', 'cache'];
const SLICES = ['s1', 's2', 's3', 's4'];
const KINDS: Kind[] = ['ServiceImport', 'EndpointSlice'];

// What the record model is given, without the JSON text the memory keeps beside it.
const plain = (rows: ServiceRows) => ({
  namespace: rows.namespace,
  name: rows.name,
  imports: rows.imports.map((r) => ({ cluster: r.cluster, object: r.object })),
  slices: rows.slices.map((r) => ({ cluster: r.cluster, object: r.object })),
});

describe('aggregator: objects kept in memory', () => {
  let temp: ReturnType<typeof tempDir>;
  let kept: ReadModel;
  let projection: Projection;
  let nextSeq: number;

  beforeEach(() => {
    temp = tempDir();
    kept = ReadModel.open(join(temp.dir, 'readmodel.db'), { objectsInMemory: true });
    projection = new Projection(kept);
    nextSeq = 1;
  });
  afterEach(() => {
    kept.close();
    temp.remove();
  });

  function apply(events: ChangeEvent[]): void {
    const batch = stored(events.map(item), nextSeq);
    nextSeq += batch.length;
    projection.applyBatch(batch);
  }

  // The kept model's answers against a second connection reading the rows.
  function assertSameAsRows(): void {
    const rows = ReadModel.open(kept.path);
    try {
      const byKey = (list: ServiceRows[]) => list.map(plain).sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
      assert.deepEqual(byKey(kept.services()), byKey(rows.services()));
      for (const ns of NAMESPACES) for (const svc of SERVICES) assert.deepEqual(plain(kept.service(ns, svc)), plain(rows.service(ns, svc)), `${ns}/${svc}`);
    } finally {
      rows.close();
    }
  }

  it('gives the rows SQLite holds after random upserts, deletes, slices moving between services and re-lists', () => {
    const random = seededRandom(7);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
    const epochs = new Map(CLUSTERS.map((c) => [c, 1]));
    kept.services(); // loaded before the events, so every one goes through the memory
    for (let round = 0; round < 60; round++) {
      const events: ChangeEvent[] = [];
      for (let n = 0; n < 1 + Math.floor(random() * 8); n++) {
        const cluster = pick(CLUSTERS);
        const epoch = epochs.get(cluster)!;
        const ns = pick(NAMESPACES);
        const roll = random();
        if (roll < 0.3) events.push(serviceImport(cluster, ns, pick(SERVICES), { ips: [`10.0.0.${Math.floor(random() * 4)}`] }, epoch));
        else if (roll < 0.6) events.push(endpointSlice(cluster, ns, pick(SLICES), pick(SERVICES), [ready(`10.1.0.${Math.floor(random() * 4)}`)], epoch));
        else if (roll < 0.75) events.push(deleted(cluster, 'ServiceImport', ns, pick(SERVICES), epoch));
        else if (roll < 0.9) events.push(deleted(cluster, 'EndpointSlice', ns, pick(SLICES), epoch));
        else {
          // A re-list that lists one object of each kind: the others of the cluster go.
          const next = epoch + 1;
          epochs.set(cluster, next);
          for (const kind of KINDS) events.push(syncBegin(cluster, kind, next));
          events.push(serviceImport(cluster, ns, pick(SERVICES), { ips: ['10.0.0.9'] }, next));
          events.push(endpointSlice(cluster, ns, pick(SLICES), pick(SERVICES), [ready('10.1.0.9')], next));
          for (const kind of KINDS) events.push(syncEnd(cluster, kind, next));
        }
      }
      apply(events);
      assertSameAsRows();
    }
    assert.ok(kept.services().length > 0, 'the random events left some services');
  });

  it('keeps one object for what several clusters hold alike, a slice that comes before its import too', () => {
    kept.services();
    apply([
      endpointSlice('east', 'prod', 's1', 'web', [ready('10.1.0.1')]),
      endpointSlice('west', 'prod', 's1', 'web', [ready('10.1.0.1')]),
      serviceImport('east', 'prod', 'web', { ips: ['10.0.0.1'] }),
      serviceImport('west', 'prod', 'web', { ips: ['10.0.0.1'] }),
    ]);
    let web = kept.service('prod', 'web');
    assert.equal(web.imports.length, 2);
    assert.equal(web.imports[0]!.object, web.imports[1]!.object, 'one import object');
    assert.equal(web.slices[0]!.object, web.slices[1]!.object, 'one slice object');
    apply([endpointSlice('west', 'prod', 's1', 'web', [ready('10.1.0.2')])]);
    web = kept.service('prod', 'web');
    assert.notEqual(web.slices[0]!.object, web.slices[1]!.object);
    assert.deepEqual(web.slices.map((r) => [r.cluster, r.object.endpoints[0]!.addresses]), [['east', ['10.1.0.1']], ['west', ['10.1.0.2']]]);
    assertSameAsRows();
  });

  it('forgets what a failed batch wrote and reads the committed rows again', () => {
    apply([serviceImport('east', 'prod', 'web', { ips: ['10.0.0.1'] })]);
    assert.deepEqual(kept.service('prod', 'web').imports.map((r) => r.object.ips), [['10.0.0.1']]);
    // The second event fails in the middle of the transaction: the rows roll back.
    kept.db.exec("CREATE TRIGGER fail BEFORE INSERT ON endpoint_slices BEGIN SELECT RAISE(ABORT, 'disk on fire'); END");
    assert.throws(
      () => apply([serviceImport('east', 'prod', 'web', { ips: ['10.0.0.2'] }), endpointSlice('east', 'prod', 's1', 'web', [ready('10.1.0.1')])]),
      /disk on fire/,
    );
    assert.deepEqual(kept.service('prod', 'web').imports.map((r) => r.object.ips), [['10.0.0.1']], 'the rolled back import is not kept');
    assertSameAsRows();
    kept.db.exec('DROP TRIGGER fail');
    apply([endpointSlice('east', 'prod', 's1', 'web', [ready('10.1.0.1')])]);
    assertSameAsRows();
    assert.equal(kept.service('prod', 'web').slices.length, 1);
  });
});
