// Event builders for the aggregator tests: given these events, then this state.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { AppendItem, StoredEvent } from '../shared/eventLog.js';
import {
  EVENT_SCHEMA_VERSION,
  KINDS,
  eventId,
  type ChangeEvent,
  type Endpoint,
  type Kind,
  type ServiceImportObject,
} from '../shared/events.js';

const observedAt = '2025-06-01T12:00:00.000Z';
let version = 0;
// Every upsert is a new observation, so it gets a new idempotency id.
const nextVersion = () => String(++version);

const base = (cluster: string, kind: Kind, epoch: number) =>
  ({ v: EVENT_SCHEMA_VERSION, cluster, kind, observedAt, epoch }) as const;

export function serviceImport(
  cluster: string,
  namespace: string,
  name: string,
  object: Partial<ServiceImportObject> = {},
  epoch = 1,
): ChangeEvent {
  return {
    ...base(cluster, 'ServiceImport', epoch),
    op: 'upsert',
    kind: 'ServiceImport',
    namespace,
    name,
    uid: `uid-${name}`,
    resourceVersion: nextVersion(),
    object: { type: 'ClusterSetIP', ips: [], ports: [], ...object },
  };
}

export function endpointSlice(
  cluster: string,
  namespace: string,
  name: string,
  serviceName: string,
  endpoints: Endpoint[],
  epoch = 1,
): ChangeEvent {
  return {
    ...base(cluster, 'EndpointSlice', epoch),
    op: 'upsert',
    kind: 'EndpointSlice',
    namespace,
    name,
    uid: `uid-${name}`,
    resourceVersion: nextVersion(),
    object: { serviceName, addressType: 'IPv4', endpoints, ports: [{ name: 'http', protocol: 'TCP', port: 80 }] },
  };
}

export function namespace(cluster: string, name: string, epoch = 1): ChangeEvent {
  return {
    ...base(cluster, 'Namespace', epoch),
    op: 'upsert',
    kind: 'Namespace',
    namespace: '',
    name,
    uid: `uid-${name}`,
    resourceVersion: nextVersion(),
    object: {},
  };
}

export function deleted(cluster: string, kind: Kind, namespace: string, name: string, epoch = 1): ChangeEvent {
  return { ...base(cluster, kind, epoch), op: 'delete', namespace, name, uid: `uid-${name}`, resourceVersion: nextVersion() };
}

export function syncBegin(cluster: string, kind: Kind, epoch: number, kinds: Kind[] = [...KINDS]): ChangeEvent {
  return { ...base(cluster, kind, epoch), op: 'sync-begin', kinds };
}

export function syncEnd(cluster: string, kind: Kind, epoch: number, kinds: Kind[] = [...KINDS]): ChangeEvent {
  return { ...base(cluster, kind, epoch), op: 'sync-end', kinds };
}

// Every kind's sync of one epoch, with nothing listed: the cluster is synced
// and holds nothing stamped with another epoch.
export function fullSync(cluster: string, epoch: number): ChangeEvent[] {
  return KINDS.flatMap((kind) => [syncBegin(cluster, kind, epoch), syncEnd(cluster, kind, epoch)]);
}

export function item(e: ChangeEvent): AppendItem {
  return { id: eventId(e), cluster: e.cluster, payload: JSON.stringify(e) };
}

export function stored(items: AppendItem[], firstSeq = 1): StoredEvent[] {
  return items.map((it, i) => ({ ...it, seq: firstSeq + i, time: new Date(0) }));
}

export function ready(...addresses: string[]): Endpoint {
  return { addresses, ready: true };
}

export function tempDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'mcsdns-aggregator-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

// Every table's rows, for comparing two read models.
export function dumpTables(path: string): Record<string, string[]> {
  const db = new Database(path, { readonly: true });
  try {
    const tables = db.prepare<[], string>("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").pluck().all();
    const rows = (t: string) => db.prepare(`SELECT * FROM "${t}"`).all().map((r) => JSON.stringify(r)).sort();
    return Object.fromEntries(tables.map((t) => [t, rows(t)]));
  } finally {
    db.close();
  }
}
