// The names and wire formats the view publisher and followers share.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeSnapshot,
  deltaMessages,
  encodeSnapshot,
  joinShares,
  parseDelta,
  parseDeltaMessage,
  parseHeartbeat,
  parseSnapshotMetadata,
  parseView,
  snapshotMetadata,
  viewDistribution,
  type DeltaPart,
} from '../shared/viewWire.js';
import { applyDelta, type ViewDelta } from '../shared/view.js';
import { nextDelta, sampleView } from './viewdist-support.js';

describe('view distribution names', () => {
  it('derives subjects, stream and bucket from the prefix, with defaults', () => {
    assert.deepEqual(viewDistribution(), {
      deltaSubject: 'mcsdns.view.delta',
      heartbeatSubject: 'mcsdns.view.heartbeat',
      deltaStream: 'MCSDNS_VIEW',
      snapshotBucket: 'mcsdns-snapshots',
      snapshotEvery: 10_000,
      snapshotIntervalMs: 30_000,
      heartbeatMs: 1000,
      replicas: 1,
    });
    const d = viewDistribution({ prefix: 'dns-b', snapshotEvery: 5, snapshotIntervalMs: 10, heartbeatMs: 20, replicas: 3 });
    assert.deepEqual([d.deltaSubject, d.heartbeatSubject, d.deltaStream, d.snapshotBucket], ['dns-b.view.delta', 'dns-b.view.heartbeat', 'DNS-B_VIEW', 'dns-b-snapshots']);
    assert.deepEqual([d.snapshotEvery, d.snapshotIntervalMs, d.heartbeatMs, d.replicas], [5, 10, 20, 3]);
  });

  for (const [opts, message] of [
    [{ prefix: 'a.b' }, /prefix "a.b"/],
    [{ prefix: '' }, /prefix ""/],
    [{ prefix: 'a*' }, /prefix "a\*"/],
    [{ snapshotEvery: 0 }, /snapshotEvery must be a positive integer, not 0/],
    [{ heartbeatMs: 1.5 }, /heartbeatMs must be a positive integer/],
    [{ replicas: -1 }, /replicas must be a positive integer/],
  ] as const) {
    it(`refuses ${JSON.stringify(opts)}`, () => assert.throws(() => viewDistribution(opts), message));
  }
});

describe('view wire formats', () => {
  it('snapshot metadata round-trips; anything else is no position', () => {
    assert.deepEqual(parseSnapshotMetadata(snapshotMetadata({ version: 42, deltaSeq: 7 })), { version: 42, deltaSeq: 7 });
    const malformed: (Record<string, string> | undefined)[] = [undefined, {}, { version: '42' }, { version: '4x', deltaSeq: '1' }, { version: '-1', deltaSeq: '1' }, { version: '1e3', deltaSeq: '1' }];
    for (const md of malformed) {
      assert.equal(parseSnapshotMetadata(md), undefined, JSON.stringify(md));
    }
  });

  it('a view parses back to itself', () => {
    const view = sampleView(20);
    assert.deepEqual(parseView(JSON.stringify(view)), view);
  });

  const view = sampleView(20);
  const delta = nextDelta(view, 11); // with namespaces
  const clusterDelta = nextDelta(view, 17); // with clusters
  const cases: [string, unknown, boolean][] = [
    ['a delta', delta, true],
    ['a delta changing clusters', clusterDelta, true],
    ['a minimal delta', { from: 1, to: 2, services: { upsert: {}, remove: [] } }, true],
    ['to not after from', { ...delta, to: delta.from }, false],
    ['a negative version', { ...delta, from: -1 }, false],
    ['a fractional version', { ...delta, to: 2.5 }, false],
    ['no services', { from: 1, to: 2 }, false],
    ['remove not a list', { from: 1, to: 2, services: { upsert: {}, remove: 'x' } }, false],
    ['records not a list', { from: 1, to: 2, services: { upsert: { 'a/b': { names: { 'b.a.svc': { type: 'A' } } } }, remove: [] } }, false],
    ['a record of unknown type', { from: 1, to: 2, services: { upsert: { 'a/b': { names: { 'b.a.svc': [{ type: 'MX', address: 'x' }] } } }, remove: [] } }, false],
    ['an SRV record without target', { from: 1, to: 2, services: { upsert: { 'a/b': { names: { n: [{ type: 'SRV', priority: 0, weight: 0, port: 1 }] } } }, remove: [] } }, false],
    ['namespaces without remove', { ...delta, namespaces: { add: ['x'] } }, false],
    ['a cluster without synced', { ...delta, clusters: [{ id: 'east' }] }, false],
    ['observedAt not numbers', { ...delta, observedAt: ['now'] }, false],
    ['overlays: a record, null, a removal', { ...delta, views: { east: { upsert: { 'prod/web': { names: { 'web.prod.svc': [{ type: 'A', address: '10.0.0.1' }] } }, 'prod/db': null }, remove: ['prod/api'] } } }, true],
    ['overlays of a cluster id that is no DNS label', { ...delta, views: { East: { upsert: {}, remove: [] } } }, false],
    ['overlays of "__proto__"', JSON.parse('{"from":1,"to":2,"services":{"upsert":{},"remove":[]},"views":{"__proto__":{"upsert":{},"remove":[]}}}'), false],
    ['an overlay key that is no "<ns>/<svc>"', { ...delta, views: { east: { upsert: { web: null }, remove: [] } } }, false],
    ['an overlay entry neither records nor null', { ...delta, views: { east: { upsert: { 'prod/web': false }, remove: [] } } }, false],
    ['an overlay record of unknown type', { ...delta, views: { east: { upsert: { 'prod/web': { names: { n: [{ type: 'MX' }] } } }, remove: [] } } }, false],
    ['an overlay change without remove', { ...delta, views: { east: { upsert: {} } } }, false],
    ['views as a list', { ...delta, views: [] }, false],
    ['an array', [delta], false],
    ['null', null, false],
  ];
  for (const [name, value, valid] of cases) {
    it(`delta: ${name} ${valid ? 'parses' : 'does not parse'}`, () => {
      const parsed = parseDelta(JSON.stringify(value));
      if (valid) assert.deepEqual(parsed, value);
      else assert.equal(parsed, undefined);
    });
  }

  it('a view with overlays parses back to itself; a malformed overlay makes no view', () => {
    const withViews = { ...view, views: { east: { 'ns-1/svc-1': null, 'ns-2/svc-2': view.services['ns-2/svc-2']! } } };
    assert.deepEqual(parseView(JSON.stringify(withViews)), withViews);
    for (const views of [{ east: { 'ns-1/svc-1': 'gone' } }, { east: [] }, { 'not a label': {} }, { east: { 'ns-1/svc-1': { names: { x: [{ type: 'A' }] } } } }]) {
      assert.equal(parseView(JSON.stringify({ ...view, views })), undefined, JSON.stringify(views));
    }
  });

  it('a snapshot decodes to the view as it was when encoding began, however the view changes meanwhile', async () => {
    const view = sampleView(2000);
    view.views = { east: { 'ns-1/svc-1': null, 'ns-2/svc-2': view.services['ns-3/svc-3']! }, west: Object.fromEntries(Object.entries(view.services).slice(0, 1200)) };
    const expected = structuredClone(view);
    const encoding = encodeSnapshot(view);
    for (let step = 1; step <= 50; step++) {
      await new Promise((resolve) => setImmediate(resolve));
      applyDelta(view, nextDelta(view, step)); // as the publisher does while a snapshot is encoded
    }
    assert.deepEqual(await decodeSnapshot(await encoding), expected);
    assert.notDeepEqual(view, expected);
  });

  it('garbage is neither a delta nor a view nor a heartbeat', () => {
    for (const text of ['', '{', '\u00ff\u0000{"', 'null', '42']) {
      assert.equal(parseDelta(text), undefined);
      assert.equal(parseView(text), undefined);
      assert.equal(parseHeartbeat(text), undefined);
    }
    assert.equal(parseView(JSON.stringify({ ...view, services: { 'a/b': { names: { x: [{ type: 'A' }] } } } })), undefined);
  });

  // A delta of every kind of change, some 2 MB of JSON.
  function bigDelta() {
    const services = sampleView(6000, 9).services;
    const delta = nextDelta(sampleView(20), 17); // clusters and observation times
    delta.services.upsert = services;
    delta.services.remove = ['ns-1/gone-1', 'ns-2/gone-2'];
    delta.namespaces = { add: ['extra'], remove: ['old'] };
    const some = Object.fromEntries(Object.entries(services).slice(0, 800));
    delta.views = { east: { upsert: { ...some, 'ns-3/hidden': null }, remove: ['ns-4/svc-5004'] }, west: { upsert: some, remove: [] } };
    return delta;
  }

  const formatTwo: [string, ViewDelta][] = [
    ['a delta', nextDelta(view, 3)],
    ['a delta with namespaces and a removal', nextDelta(view, 55)],
    ['a delta changing clusters', clusterDelta],
    ['a delta of only a cluster list, at the same version', { from: 9, to: 9, clusters: [{ id: 'east', synced: true }], services: { upsert: {}, remove: [] } }],
    ['a delta with overlays', { ...nextDelta(view, 4), views: { east: { upsert: { 'ns-1/svc-1': view.services['ns-1/svc-1']!, 'ns-2/svc-2': null }, remove: ['ns-3/svc-3'] }, west: { upsert: {}, remove: ['ns-4/svc-4'] } } }],
  ];
  for (const [name, delta] of formatTwo) {
    it(`${name} goes as one message of format 2, which reads back as the delta`, () => {
      const messages = deltaMessages(delta, 1e6)!;
      assert.equal(messages.length, 1);
      assert.deepEqual(parseDeltaMessage(messages[0]!), delta);
    });
  }

  it('format 1, a delta as JSON text, still reads', () => {
    for (const [, value, valid] of cases) {
      const parsed = parseDeltaMessage(Buffer.from(JSON.stringify(value)));
      if (valid) assert.deepEqual(parsed, value);
      else assert.equal(parsed, undefined);
    }
  });

  it('format 2 is a quarter of the JSON text of a delta of headless services', () => {
    const delta = bigDelta();
    assert.ok(Buffer.concat(deltaMessages(delta, Infinity)!).length < JSON.stringify(delta).length / 3);
  });

  it('a bigger delta goes in parts of at most the given size, which join back into it', () => {
    const delta = bigDelta();
    const messages = deltaMessages(delta, 65536)!;
    assert.ok(messages.length > 5, `${messages.length} parts`);
    assert.ok(messages.every((m) => m.length <= 65536));
    const parts = messages.map((m) => parseDeltaMessage(m) as DeltaPart);
    assert.deepEqual(
      parts.map((p) => p.part),
      parts.map((_, index) => ({ from: delta.from, to: delta.to, index, count: messages.length })),
    );
    assert.deepEqual(joinShares(parts.map((p) => p.share)), delta);
    const before = sampleView(20);
    const joined = structuredClone(before);
    assert.ok(applyDelta(joined, joinShares(parts.map((p) => p.share))!));
    applyDelta(before, delta);
    assert.deepEqual(joined, before);
  });

  it('a follower that predates format 2 takes no message of it for a delta', () => {
    for (const m of [...deltaMessages(bigDelta(), 65536)!, ...deltaMessages(clusterDelta, 1e6)!]) assert.equal(parseDelta(m.toString('utf8')), undefined);
  });

  it('a delta with one service bigger than a message cannot be sent in parts', () => {
    const records = Array.from({ length: 20_000 }, (_, i) => ({ type: 'A' as const, address: `10.0.${i >> 8}.${i & 255}` }));
    assert.equal(deltaMessages({ from: 1, to: 2, services: { upsert: { 'ns/big': { names: { 'big.ns.svc': records } } }, remove: [] } }, 65536), undefined);
  });

  it('format 2: a malformed head or body does not read', () => {
    const [message] = deltaMessages(nextDelta(view, 4), 1e6)!;
    const headLength = message!.readUInt32BE(5);
    const withHead = (head: object) => {
      const bytes = Buffer.from(JSON.stringify(head));
      const prefix = Buffer.from(message!.subarray(0, 9));
      prefix.writeUInt32BE(bytes.length, 5);
      return Buffer.concat([prefix, bytes, message!.subarray(9 + headLength)]);
    };
    const head = JSON.parse(message!.toString('utf8', 9, 9 + headLength)) as Record<string, unknown>;
    assert.ok(parseDeltaMessage(withHead(head)));
    const malformed: [string, Buffer][] = [
      ['cut short', message!.subarray(0, message!.length - 3)],
      ['only the magic', message!.subarray(0, 6)],
      ['another format', Buffer.concat([message!.subarray(0, 4), Buffer.of(3), message!.subarray(5)])],
      ['a head that is no JSON', Buffer.concat([message!.subarray(0, 9), Buffer.from('{'.padEnd(headLength)), message!.subarray(9 + headLength)])],
      ['a head longer than the message', Buffer.concat([message!.subarray(0, 5), Buffer.from([0x7f, 0, 0, 0]), message!.subarray(9)])],
      ['no removals', withHead({ ...head, remove: undefined })],
      ['a part index past the count', withHead({ ...head, part: { index: 2, count: 2 } })],
      ['a body of another version', withHead({ ...head, to: Number(head.to) + 1 })],
      ['to before from', withHead({ ...head, from: Number(head.to) + 1 })],
      ['overlay removals of a cluster id that is no DNS label', withHead({ ...head, views: { East: [] } })],
      ['garbage after the body', Buffer.concat([message!, Buffer.of(0)])],
    ];
    for (const [what, bytes] of malformed) assert.equal(parseDeltaMessage(bytes), undefined, what);
  });

  it('heartbeats', () => {
    assert.deepEqual(parseHeartbeat('{"version":12,"time":1700000000000}'), { version: 12, time: 1700000000000 });
    assert.equal(parseHeartbeat('{"version":"12","time":1}'), undefined);
    assert.equal(parseHeartbeat('{"version":12}'), undefined);
  });
});
