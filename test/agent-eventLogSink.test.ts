import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventLogSink } from '../services/agent/agent.js';
import { encodeEvent, eventId, objectJson, type ChangeEvent } from '../shared/events.js';
import { SqliteEventLog } from '../shared/sqliteEventLog.js';

const base = { v: 1, cluster: 'east', observedAt: '2024-05-01T10:00:00.000Z', epoch: 1714557600000 } as const;
const events: ChangeEvent[] = [
  { ...base, kind: 'Namespace', op: 'sync-begin', kinds: ['ServiceImport', 'Namespace'] },
  { ...base, kind: 'Namespace', op: 'upsert', namespace: '', name: 'prod', uid: 'u1', resourceVersion: '7', object: {} },
  {
    ...base,
    kind: 'EndpointSlice',
    namespace: 'prod',
    name: 'db-x1',
    uid: 'a "quoted" \u00e9 uid',
    resourceVersion: '8',
    op: 'upsert',
    object: { serviceName: 'db', sourceCluster: 'west', addressType: 'IPv4', endpoints: [{ addresses: ['10.0.0.1'], hostname: 'db-0', ready: true }], ports: [] },
  },
  { ...base, kind: 'ServiceImport', namespace: 'prod', name: 'db', uid: 'u3', resourceVersion: '9', op: 'delete' },
  { ...base, kind: 'Namespace', op: 'sync-end', kinds: ['ServiceImport', 'Namespace'] },
];

describe('eventLogSink', () => {
  it('appends each event in order with its idempotency id, cluster and JSON payload; a re-publish is a no-op', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcsdns-sink-'));
    const log = SqliteEventLog.open(join(dir, 'events.db'));
    try {
      const sink = eventLogSink(log);
      await sink.publish(events);
      await sink.publish(events); // a retry after a lost acknowledgement
      const stored = await log.read(0, 100);
      assert.deepEqual(
        stored.map((s) => ({ id: s.id, cluster: s.cluster, event: JSON.parse(s.payload) })),
        events.map((e) => ({ id: eventId(e), cluster: 'east', event: e })),
      );
    } finally {
      await log.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('encodeEvent', () => {
  it('writes JSON that reads back as the event, for every op, escapes included', () => {
    for (const e of events) assert.deepEqual(JSON.parse(encodeEvent(e)), e);
  });

  it('writes an object once and reuses its text for the event that carries it', () => {
    const upsert = events[2]!;
    assert.ok(upsert.op === 'upsert');
    const text = objectJson(upsert.object);
    assert.equal(text, JSON.stringify(upsert.object));
    assert.ok(encodeEvent(upsert).endsWith(`"object":${text}}`));
  });
});
