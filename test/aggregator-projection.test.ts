// Given events, then read-model state.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { ChangeEvent } from '../shared/events.js';
import { Projection } from '../services/aggregator/projection.js';
import { ReadModel } from '../services/aggregator/readModel.js';
import {
  deleted,
  endpointSlice,
  item,
  namespace,
  ready,
  serviceImport,
  stored,
  syncBegin,
  syncEnd,
  tempDir,
} from './aggregator-events.js';

describe('projection', () => {
  let temp: ReturnType<typeof tempDir>;
  let model: ReadModel;
  let projection: Projection;
  let nextSeq: number;

  beforeEach(() => {
    temp = tempDir();
    model = ReadModel.open(join(temp.dir, 'readmodel.db'));
    projection = new Projection(model);
    nextSeq = 1;
  });
  afterEach(() => {
    model.close();
    temp.remove();
  });

  function given(...events: ChangeEvent[]) {
    const batch = stored(events.map(item), nextSeq);
    nextSeq += batch.length;
    return projection.applyBatch(batch);
  }

  const rows = (sql: string) => model.db.prepare(sql).all();
  const importKeys = () => rows('SELECT cluster, namespace, name FROM service_imports ORDER BY 1, 2, 3');
  const sliceKeys = () => rows('SELECT cluster, namespace, name, service_name FROM endpoint_slices ORDER BY 1, 2, 3');

  it('stores an upserted import with its reference, epoch, writing seq and object', () => {
    const { touched } = given(serviceImport('east', 'prod', 'web', { ips: ['10.0.0.1'] }, 7));
    assert.deepEqual(rows('SELECT cluster, namespace, name, uid, epoch, seq, object FROM service_imports'), [
      {
        cluster: 'east',
        namespace: 'prod',
        name: 'web',
        uid: 'uid-web',
        epoch: 7,
        seq: 1,
        object: JSON.stringify({ type: 'ClusterSetIP', ips: ['10.0.0.1'], ports: [] }),
      },
    ]);
    assert.deepEqual([...touched.services], ['prod/web']);
    assert.equal(model.lastApplied(), 1);
  });

  it('replaces an object on upsert and removes it on delete', () => {
    given(serviceImport('east', 'prod', 'web', { ips: ['10.0.0.1'] }));
    given(serviceImport('east', 'prod', 'web', { ips: ['10.0.0.2'] }));
    const object = { type: 'ClusterSetIP', ips: ['10.0.0.2'], ports: [] };
    assert.deepEqual(model.service('prod', 'web').imports, [{ cluster: 'east', object, json: JSON.stringify(object) }]);
    const { touched } = given(deleted('east', 'ServiceImport', 'prod', 'web'));
    assert.deepEqual(importKeys(), []);
    assert.deepEqual([...touched.services], ['prod/web']);
    assert.equal(model.lastApplied(), 3);
  });

  it('touches nothing when deleting what it does not hold', () => {
    const { touched } = given(
      deleted('east', 'ServiceImport', 'prod', 'ghost'),
      deleted('east', 'EndpointSlice', 'prod', 'ghost-1'),
      deleted('east', 'Namespace', '', 'ghost'),
    );
    assert.deepEqual([...touched.services], []);
    assert.deepEqual([...touched.namespaces], []);
  });

  it('keeps the same object name of two clusters apart', () => {
    given(serviceImport('east', 'prod', 'web'), serviceImport('west', 'prod', 'web'));
    given(deleted('west', 'ServiceImport', 'prod', 'web'));
    assert.deepEqual(importKeys(), [{ cluster: 'east', namespace: 'prod', name: 'web' }]);
  });

  it('touches both services when a slice moves to another service', () => {
    given(endpointSlice('east', 'prod', 'web-abc', 'web', [ready('10.1.0.1')]));
    const { touched } = given(endpointSlice('east', 'prod', 'web-abc', 'api', [ready('10.1.0.1')]));
    assert.deepEqual([...touched.services].sort(), ['prod/api', 'prod/web']);
    assert.deepEqual(model.service('prod', 'web').slices, []);
    assert.equal(model.service('prod', 'api').slices.length, 1);
    const removal = given(deleted('east', 'EndpointSlice', 'prod', 'web-abc'));
    assert.deepEqual([...removal.touched.services], ['prod/api']);
    assert.deepEqual(sliceKeys(), []);
  });

  it('knows a namespace while any cluster has it', () => {
    given(namespace('east', 'prod'), namespace('west', 'prod'), namespace('west', 'dev'));
    assert.deepEqual(model.namespaces(), ['dev', 'prod']);
    const { touched } = given(deleted('west', 'Namespace', '', 'prod'));
    assert.deepEqual([...touched.namespaces], ['prod']);
    assert.equal(model.hasNamespace('prod'), true);
    given(deleted('east', 'Namespace', '', 'prod'));
    assert.equal(model.hasNamespace('prod'), false);
    assert.deepEqual(model.namespaces(), ['dev']);
  });

  describe('sync epochs', () => {
    beforeEach(() => {
      given(
        serviceImport('east', 'prod', 'web', {}, 1),
        serviceImport('east', 'prod', 'old', {}, 1),
        endpointSlice('east', 'prod', 'old-1', 'old', [ready('10.1.0.1')], 1),
        namespace('east', 'prod', 1),
        namespace('east', 'gone', 1),
        serviceImport('west', 'prod', 'old', {}, 1),
      );
    });

    it("drops the cluster's objects of that kind missing from the re-list, and only those", () => {
      const { touched } = given(
        syncBegin('east', 'ServiceImport', 2),
        serviceImport('east', 'prod', 'web', {}, 2),
        syncEnd('east', 'ServiceImport', 2),
      );
      assert.deepEqual(importKeys(), [
        { cluster: 'east', namespace: 'prod', name: 'web' },
        { cluster: 'west', namespace: 'prod', name: 'old' },
      ]);
      assert.deepEqual(sliceKeys(), [{ cluster: 'east', namespace: 'prod', name: 'old-1', service_name: 'old' }]);
      assert.deepEqual(model.namespaces(), ['gone', 'prod']);
      assert.ok(touched.services.has('prod/old'));
    });

    it('drops slices and namespaces by the epochs of their own kind', () => {
      const { touched } = given(
        syncBegin('east', 'EndpointSlice', 3),
        syncEnd('east', 'EndpointSlice', 3),
        syncBegin('east', 'Namespace', 3),
        namespace('east', 'prod', 3),
        syncEnd('east', 'Namespace', 3),
      );
      assert.deepEqual(sliceKeys(), []);
      assert.deepEqual(model.namespaces(), ['prod']);
      assert.deepEqual([...touched.services], ['prod/old']);
      assert.deepEqual([...touched.namespaces].sort(), ['gone', 'prod']);
      assert.equal(importKeys().length, 3);
    });
  });

  describe('cluster sync state', () => {
    const kinds = ['ServiceImport', 'EndpointSlice'] as const;
    const synced = () => model.clusters();

    it('knows a cluster from its first event, not synced yet', () => {
      const { touched } = given(serviceImport('east', 'prod', 'web'));
      assert.equal(touched.clusters, true);
      assert.deepEqual(synced(), [{ id: 'east', synced: false }]);
      assert.equal(given(serviceImport('east', 'prod', 'api')).touched.clusters, false);
    });

    it('is synced once every watched kind completed a sync', () => {
      given(syncBegin('east', 'ServiceImport', 1, [...kinds]), syncEnd('east', 'ServiceImport', 1, [...kinds]));
      given(syncBegin('east', 'EndpointSlice', 1, [...kinds]));
      assert.deepEqual(synced(), [{ id: 'east', synced: false }]);
      given(syncEnd('east', 'EndpointSlice', 1, [...kinds]));
      assert.deepEqual(synced(), [{ id: 'east', synced: true }]);
      assert.deepEqual(rows('SELECT first_synced_at FROM clusters'), [{ first_synced_at: '2025-06-01T12:00:00.000Z' }]);
      // A later re-list does not make it unsynced.
      given(syncBegin('east', 'ServiceImport', 2, [...kinds]));
      assert.deepEqual(synced(), [{ id: 'east', synced: true }]);
    });

    it('is not synced again until a newly watched kind completed a sync', () => {
      given(syncBegin('east', 'ServiceImport', 1, ['ServiceImport']), syncEnd('east', 'ServiceImport', 1, ['ServiceImport']));
      assert.deepEqual(synced(), [{ id: 'east', synced: true }]);
      given(syncBegin('east', 'Namespace', 2, ['ServiceImport', 'Namespace']));
      assert.deepEqual(synced(), [{ id: 'east', synced: false }]);
      given(syncEnd('east', 'Namespace', 2, ['ServiceImport', 'Namespace']));
      assert.deepEqual(synced(), [{ id: 'east', synced: true }]);
    });
  });

  it('puts malformed events and cluster mismatches aside and applies the rest', () => {
    const good = item(serviceImport('east', 'prod', 'web'));
    const impostor = item(serviceImport('west', 'prod', 'api'));
    const batch = stored([
      { id: 'garbage', cluster: 'east', payload: '{not json' },
      { id: 'old-schema', cluster: 'east', payload: JSON.stringify({ ...JSON.parse(good.payload), v: 0 }) },
      good,
      { ...impostor, cluster: 'east' }, // says west, published by east
    ]);
    const { rejected } = projection.applyBatch(batch);
    assert.deepEqual(
      rejected.map((r) => [r.seq, r.id, r.cluster]),
      [
        [1, 'garbage', 'east'],
        [2, 'old-schema', 'east'],
        [4, impostor.id, 'east'],
      ],
    );
    assert.deepEqual(rows('SELECT seq, reason, payload FROM rejected_events ORDER BY seq'), [
      { seq: 1, reason: 'payload is not JSON', payload: '{not json' },
      { seq: 2, reason: 'unsupported event schema version 0', payload: batch[1]!.payload },
      { seq: 4, reason: 'event says cluster west but was published by cluster east', payload: impostor.payload },
    ]);
    assert.deepEqual(importKeys(), [{ cluster: 'east', namespace: 'prod', name: 'web' }]);
    assert.equal(model.lastApplied(), 4);
    assert.equal(model.rejectedEvents(), 3);
  });

  // Each case: a change to a valid event, and the reason it is put aside for (undefined: applied).
  const validImport = JSON.parse(item(serviceImport('east', 'prod', 'web', { ips: ['10.0.0.1'], ports: [{ name: 'http', protocol: 'TCP', port: 80 }] })).payload);
  const validSlice = JSON.parse(item(endpointSlice('east', 'prod', 'web-1', 'web', [{ addresses: ['10.1.0.1'], hostname: 'h', ready: false }])).payload);
  const validSync = JSON.parse(item(syncBegin('east', 'ServiceImport', 1)).payload);
  const validNamespace = JSON.parse(item(namespace('east', 'prod')).payload);
  const validDelete = JSON.parse(item(deleted('east', 'ServiceImport', 'prod', 'web')).payload);
  const withObject = (event: Record<string, unknown>, object: Record<string, unknown>) => ({ ...event, object: { ...(event.object as object), ...object } });
  const withEndpoint = (endpoint: Record<string, unknown>) => withObject(validSlice, { endpoints: [{ addresses: ['10.1.0.1'], ready: true, ...endpoint }] });
  const validationCases: [string, unknown, string | undefined][] = [
    ['an array', [validImport], 'event must be a JSON object'],
    ['null', null, 'event must be a JSON object'],
    ['a string', 'event', 'event must be a JSON object'],
    ['no schema version', { ...validImport, v: undefined }, 'unsupported event schema version undefined'],
    ['schema version 2', { ...validImport, v: 2 }, 'unsupported event schema version 2'],
    ['schema version as text', { ...validImport, v: '1' }, 'unsupported event schema version "1"'],
    ['empty cluster', { ...validImport, cluster: '' }, 'field cluster must be a non-empty string'],
    ['cluster not a label', { ...validImport, cluster: 'East' }, 'cluster id "East" is not an RFC 1123 label'],
    ['unknown kind', { ...validImport, kind: 'Pod' }, 'unknown kind "Pod"'],
    ['observedAt not a time', { ...validImport, observedAt: 'yesterday' }, 'observedAt is not a time'],
    ['observedAt a number', { ...validImport, observedAt: 5 }, 'field observedAt must be a non-empty string'],
    ['negative epoch', { ...validImport, epoch: -1 }, 'epoch must be a non-negative integer'],
    ['fractional epoch', { ...validImport, epoch: 1.5 }, 'epoch must be a non-negative integer'],
    ['epoch as text', { ...validImport, epoch: '1' }, 'epoch must be a non-negative integer'],
    ['unknown op', { ...validImport, op: 'patch' }, 'unknown op "patch"'],
    ['sync without kinds', { ...validSync, kinds: [] }, 'kinds must list known kinds'],
    ['sync with an unknown kind', { ...validSync, kinds: ['ServiceImport', 'Pod'] }, 'kinds must list known kinds'],
    ['sync kinds not an array', { ...validSync, kinds: 'ServiceImport' }, 'field kinds must be an array of strings'],
    ['sync kinds not strings', { ...validSync, kinds: [1] }, 'field kinds must be an array of strings'],
    ['import without namespace', { ...validImport, namespace: '' }, 'field namespace must be a non-empty string'],
    ['namespace with a namespace', { ...validNamespace, namespace: 'prod' }, 'a Namespace event has no namespace'],
    ['empty name', { ...validImport, name: '' }, 'field name must be a non-empty string'],
    ['uid a number', { ...validImport, uid: 5 }, 'field uid must be a string'],
    ['resourceVersion missing', { ...validDelete, resourceVersion: undefined }, 'field resourceVersion must be a string'],
    ['import without object', { ...validImport, object: undefined }, 'object missing'],
    ['import object an array', { ...validImport, object: [] }, 'object missing'],
    ['import type NodePort', withObject(validImport, { type: 'NodePort' }), 'ServiceImport type must be ClusterSetIP or Headless'],
    ['import ips not strings', withObject(validImport, { ips: [1] }), 'field ips must be an array of strings'],
    ['import ips missing', withObject(validImport, { ips: undefined }), 'field ips must be an array of strings'],
    ['ports not an array', withObject(validImport, { ports: {} }), 'field ports must be an array'],
    ['a port not an object', withObject(validImport, { ports: [80] }), 'a port must be an object'],
    ['port 0', withObject(validImport, { ports: [{ name: '', protocol: 'TCP', port: 0 }] }), 'port number out of range'],
    ['port 65536', withObject(validImport, { ports: [{ name: '', protocol: 'TCP', port: 65536 }] }), 'port number out of range'],
    ['port as text', withObject(validImport, { ports: [{ name: '', protocol: 'TCP', port: '80' }] }), 'port number out of range'],
    ['port protocol HTTP', withObject(validImport, { ports: [{ name: '', protocol: 'HTTP', port: 80 }] }), 'port protocol must be TCP, UDP or SCTP'],
    ['port without name', withObject(validImport, { ports: [{ protocol: 'TCP', port: 80 }] }), 'field name must be a string'],
    ['slice addressType', withObject(validSlice, { addressType: 'IPv5' }), 'bad addressType'],
    ['slice endpoints missing', withObject(validSlice, { endpoints: undefined }), 'field endpoints must be an array'],
    ['slice endpoint not an object', withObject(validSlice, { endpoints: ['10.1.0.1'] }), 'an endpoint must be an object'],
    ['endpoint ready as text', withEndpoint({ ready: 'true' }), 'endpoint ready must be a boolean'],
    ['endpoint without ready', withEndpoint({ ready: undefined }), 'endpoint ready must be a boolean'],
    ['endpoint addresses not strings', withEndpoint({ addresses: [null] }), 'field addresses must be an array of strings'],
    ['endpoint hostname empty', withEndpoint({ hostname: '' }), 'field hostname must be a non-empty string'],
    ['endpoint hostname null', withEndpoint({ hostname: null }), 'field hostname must be a non-empty string'],
    ['slice serviceName empty', withObject(validSlice, { serviceName: '' }), 'field serviceName must be a non-empty string'],
    ['slice sourceCluster a number', withObject(validSlice, { sourceCluster: 5 }), 'field sourceCluster must be a non-empty string'],
    ['slice ports missing', withObject(validSlice, { ports: undefined }), 'field ports must be an array'],
    ['a valid import', validImport, undefined],
    ['a valid slice', validSlice, undefined],
    ['a valid sync', validSync, undefined],
    ['a valid namespace', validNamespace, undefined],
    ['a namespace with any object', { ...validNamespace, object: 'anything' }, undefined],
    ['a valid delete', validDelete, undefined],
    ['a delete with any object', { ...validDelete, object: 5 }, undefined],
    ['unknown fields', withEndpoint({ zone: 'a' }), undefined],
  ];
  for (const [what, event, reason] of validationCases) {
    it(`${reason === undefined ? 'applies' : 'puts aside'} ${what}`, () => {
      const { rejected } = projection.applyBatch(stored([{ id: what, cluster: 'east', payload: JSON.stringify(event) }]));
      assert.deepEqual(rejected.map((r) => r.reason), reason === undefined ? [] : [reason]);
    });
  }
});
