// Per-cluster views as the aggregator derives them: given events, then the
// overlays in the view and in the deltas; every delta applied to the view
// before it gives the view built from scratch.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { ChangeEvent, Kind } from '../shared/events.js';
import { silentLogger } from '../shared/logger.js';
import { SqliteEventLog } from '../shared/sqliteEventLog.js';
import { applyDelta, viewFor, type DnsView, type ViewDelta } from '../shared/view.js';
import { Aggregator } from '../services/aggregator/aggregator.js';
import { fullView, viewDelta, type ViewSources } from '../services/aggregator/dnsView.js';
import { Projection } from '../services/aggregator/projection.js';
import { ReadModel } from '../services/aggregator/readModel.js';
import { deleted, endpointSlice, fullSync, item, ready, serviceImport, stored, syncBegin, syncEnd, tempDir } from './aggregator-events.js';

const a = (address: string) => ({ type: 'A', address });
const webIPs = (view: DnsView, cluster?: string) => viewFor(view, cluster, 'prod/web')?.names['web.prod.svc'];

describe('aggregator: per-cluster views', () => {
  let temp: ReturnType<typeof tempDir>;
  let model: ReadModel;
  let projection: Projection;
  let src: ViewSources;
  let view: DnsView;
  let nextSeq: number;

  beforeEach(() => {
    temp = tempDir();
    model = ReadModel.open(join(temp.dir, 'readmodel.db'));
    projection = new Projection(model);
    src = { model, expectedClusters: [], logger: silentLogger };
    nextSeq = 1;
    view = fullView(src, 0);
  });
  afterEach(() => {
    model.close();
    temp.remove();
  });

  // Applies the events as one batch; returns its delta, checked against a full rebuild.
  function given(...events: ChangeEvent[]): ViewDelta {
    const batch = stored(events.map(item), nextSeq);
    nextSeq += batch.length;
    const { touched } = projection.applyBatch(batch);
    const delta = viewDelta(src, view, touched, nextSeq - 1);
    assert.ok(applyDelta(view, delta));
    assert.deepEqual(view, fullView(src, nextSeq - 1), 'the view kept by deltas is the view built in full');
    return delta;
  }

  it('adds, changes and removes overlays as clusters come to differ and agree again', () => {
    given(...fullSync('east', 1), ...fullSync('west', 1));
    let delta = given(serviceImport('east', 'prod', 'web', { ips: ['10.0.0.1'] }), serviceImport('west', 'prod', 'web', { ips: ['10.0.0.1'] }));
    assert.equal(delta.views, undefined, 'alike clusters: no overlay');
    assert.equal(view.views, undefined);

    delta = given(serviceImport('west', 'prod', 'web', { ips: ['10.0.0.2'] }));
    assert.deepEqual(delta.views, {
      east: { upsert: { 'prod/web': { names: { 'web.prod.svc': [a('10.0.0.1')] } } }, remove: [] },
      west: { upsert: { 'prod/web': { names: { 'web.prod.svc': [a('10.0.0.2')] } } }, remove: [] },
    });
    assert.deepEqual(webIPs(view), [a('10.0.0.1'), a('10.0.0.2')]);
    assert.deepEqual(webIPs(view, 'east'), [a('10.0.0.1')]);
    assert.deepEqual(webIPs(view, 'west'), [a('10.0.0.2')]);

    delta = given(serviceImport('west', 'prod', 'web', { ips: ['10.0.0.3'] }));
    assert.deepEqual(Object.keys(delta.views ?? {}), ['west'], 'east still sees only its own IP: unchanged, not republished');

    delta = given(serviceImport('west', 'prod', 'web', { ips: ['10.0.0.1'] }));
    assert.deepEqual(delta.views, { east: { upsert: {}, remove: ['prod/web'] }, west: { upsert: {}, remove: ['prod/web'] } });
    assert.equal(view.views, undefined);
  });

  it('gives a cluster that holds no ready endpoint of a headless service no name there', () => {
    given(...fullSync('east', 1), ...fullSync('west', 1));
    const delta = given(
      serviceImport('east', 'prod', 'db', { type: 'Headless' }),
      serviceImport('west', 'prod', 'db', { type: 'Headless' }),
      endpointSlice('east', 'prod', 'db-1', 'db', [ready('10.1.0.1')]),
    );
    assert.deepEqual(delta.views, { west: { upsert: { 'prod/db': null }, remove: [] } });
    assert.equal(viewFor(view, 'west', 'prod/db'), undefined);
    assert.deepEqual(viewFor(view, 'east', 'prod/db'), view.services['prod/db']);
    given(deleted('east', 'EndpointSlice', 'prod', 'db-1'));
    assert.equal(view.services['prod/db'], undefined);
    assert.equal(view.views, undefined, 'no name anywhere: nothing to overlay');
  });

  it('gives a cluster its overlays when its first sync ends, and takes them away when it is no longer synced', () => {
    const noEndpoints: Kind[] = ['ServiceImport', 'Namespace'];
    given(
      ...fullSync('east', 1),
      serviceImport('east', 'prod', 'web', { ips: ['10.0.0.1'] }),
      serviceImport('east', 'prod', 'api', { ips: ['10.0.0.5'] }),
      serviceImport('east', 'prod', 'db', { ips: ['10.0.0.9'] }),
    );
    let delta = given(
      syncBegin('north', 'ServiceImport', 1, noEndpoints),
      serviceImport('north', 'prod', 'web', { ips: ['10.0.0.7'] }),
      // Another object than east's, with the same names: north sees the union there.
      serviceImport('north', 'prod', 'db', { ips: ['10.0.0.9'], ports: [{ name: '', protocol: 'TCP', port: 5432 }] }),
    );
    assert.deepEqual(Object.keys(delta.views ?? {}), ['east'], 'east sees only its own IP; north, not synced yet, has no view');
    assert.deepEqual(webIPs(view, 'north'), [a('10.0.0.1'), a('10.0.0.7')]);

    delta = given(syncEnd('north', 'ServiceImport', 1, noEndpoints), syncBegin('north', 'Namespace', 1, noEndpoints), syncEnd('north', 'Namespace', 1, noEndpoints));
    assert.deepEqual(delta.views, {
      north: { upsert: { 'prod/api': null, 'prod/web': { names: { 'web.prod.svc': [a('10.0.0.7')] } } }, remove: [] },
    });

    // The agent now watches slices too: not synced until that sync ends.
    delta = given(syncBegin('north', 'EndpointSlice', 2));
    assert.deepEqual(delta.clusters, [
      { id: 'east', synced: true },
      { id: 'north', synced: false },
    ]);
    assert.equal(delta.views, undefined, 'the cluster list alone takes the overlay away');
    assert.deepEqual(Object.keys(view.views ?? {}), ['east']);
  });
});

describe('aggregator: per-cluster views over the event log', () => {
  it('publishes deltas that turn the first snapshot into the current view, overlays included', async () => {
    const temp = tempDir();
    const log = SqliteEventLog.open(join(temp.dir, 'events.db'));
    const aggregator = Aggregator.open({ log, dbPath: join(temp.dir, 'readmodel.db'), batchSize: 3 });
    try {
      const snapshots: DnsView[] = [];
      const deltas: ViewDelta[] = [];
      aggregator.subscribe({ snapshot: (v) => snapshots.push(v), delta: (d) => deltas.push(d) });
      await aggregator.start();
      const append = async (...events: ChangeEvent[]) => {
        const results = await log.append(events.map(item));
        assert.ok(await aggregator.waitForSeq(results.at(-1)!.seq, 5000));
      };
      await append(
        ...fullSync('east', 1),
        ...fullSync('west', 1),
        serviceImport('east', 'prod', 'web', { ips: ['10.0.0.1'] }),
        serviceImport('west', 'prod', 'web', { ips: ['10.0.0.2'] }),
      );
      // A late subscriber's snapshot already has overlays; the ones changed later must not change it.
      let late: { snapshot: DnsView; asReceived: DnsView } | undefined;
      aggregator.subscribe({ snapshot: (v) => (late = { snapshot: v, asReceived: structuredClone(v) }), delta: () => undefined });
      assert.ok(late?.snapshot.views?.west);
      await append(
        serviceImport('west', 'prod', 'web', { ips: ['10.0.0.3'] }),
        serviceImport('east', 'prod', 'api', { ips: ['10.0.0.5'] }),
        serviceImport('west', 'prod', 'api', { ips: ['10.0.0.5'] }),
        deleted('west', 'ServiceImport', 'prod', 'web'),
      );
      const replayed = structuredClone(snapshots[0]!);
      for (const d of deltas) assert.ok(applyDelta(replayed, d));
      const current = aggregator.view();
      assert.deepEqual(replayed, current);
      assert.deepEqual(current.views, { west: { 'prod/web': null } });
      assert.deepEqual(late.snapshot, late.asReceived);
    } finally {
      await aggregator.stop();
      await log.close();
      temp.remove();
    }
  });
});
