// The projection: the one place that turns log events into read-model rows.
// The aggregator uses it, and so can replay and audit: it touches nothing
// but the read model.
import type Database from 'better-sqlite3';
import type { StoredEvent } from '../../shared/eventLog.js';
import { parseEvent, type ChangeEvent, type DeleteEvent, type Kind, type SyncEvent, type UpsertEvent } from '../../shared/events.js';
import { serviceKey } from '../../shared/view.js';
import { isSynced, type ReadModel } from './readModel.js';
import type { ObjectChanges } from './serviceObjects.js';

// What applying events changed, for deriving the view incrementally.
export interface Touched {
  services: Set<string>; // "<ns>/<svc>" whose imports or slices changed
  namespaces: Set<string>; // namespace names added or removed in some cluster
  clusters: boolean; // a cluster appeared or its sync state changed
}

export function nothingTouched(): Touched {
  return { services: new Set(), namespaces: new Set(), clusters: false };
}

export interface Rejection {
  seq: number;
  id: string;
  cluster: string;
  reason: string;
}

export type ProjectionStatements = ReturnType<typeof prepareProjection>;

// Positional parameters: binding by name costs a lookup per parameter and event.
export function prepareProjection(db: Database.Database) {
  const objectUpdate = 'uid = excluded.uid, resource_version = excluded.resource_version, epoch = excluded.epoch, seq = excluded.seq';
  const byKey = 'cluster = ? AND namespace = ? AND name = ?';
  const sliceUpsert = `INSERT INTO endpoint_slices (cluster, namespace, name, uid, resource_version, epoch, seq, service_name, object)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (cluster, namespace, name) DO UPDATE SET ${objectUpdate}, service_name = excluded.service_name, object = excluded.object`;
  type ObjectRow = [cluster: string, namespace: string, name: string, uid: string, resourceVersion: string, epoch: number, seq: number];
  type Key = [cluster: string, namespace: string, name: string];
  return {
    setLastApplied: db.prepare<[number]>('UPDATE meta SET last_applied_seq = ?'),
    reject: db.prepare<[seq: number, id: string, cluster: string, reason: string, payload: string]>(
      'INSERT INTO rejected_events (seq, id, cluster, reason, payload) VALUES (?, ?, ?, ?, ?)',
    ),
    addCluster: db.prepare<[string]>('INSERT INTO clusters (id) VALUES (?) ON CONFLICT DO NOTHING'),
    clusterSync: db.prepare<[string], { synced_kinds: string; first_synced_at: string | null }>(
      'SELECT synced_kinds, first_synced_at FROM clusters WHERE id = ?',
    ),
    setKinds: db.prepare<[string, string]>('UPDATE clusters SET kinds = ? WHERE id = ?'),
    setSynced: db.prepare<[syncedKinds: string, firstSyncedAt: string | null, id: string]>(
      'UPDATE clusters SET synced_kinds = ?, first_synced_at = ? WHERE id = ?',
    ),
    upsertImport: db.prepare<[...ObjectRow, object: string]>(
      `INSERT INTO service_imports (cluster, namespace, name, uid, resource_version, epoch, seq, object) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (cluster, namespace, name) DO UPDATE SET ${objectUpdate}, object = excluded.object`,
    ),
    deleteImport: db.prepare<Key>(`DELETE FROM service_imports WHERE ${byKey}`),
    staleImports: db.prepare<[string, number], { namespace: string; name: string }>(
      'DELETE FROM service_imports WHERE cluster = ? AND epoch <> ? RETURNING namespace, name',
    ),
    sliceService: db.prepare<Key, string>(`SELECT service_name FROM endpoint_slices WHERE ${byKey}`).pluck(),
    // Changes nothing when the slice exists under another service: then the caller looks up which.
    upsertSliceOfSameService: db.prepare<[...ObjectRow, serviceName: string, object: string]>(
      `${sliceUpsert} WHERE service_name = excluded.service_name`,
    ),
    upsertSlice: db.prepare<[...ObjectRow, serviceName: string, object: string]>(sliceUpsert),
    deleteSlice: db.prepare<Key, string>(`DELETE FROM endpoint_slices WHERE ${byKey} RETURNING service_name`).pluck(),
    staleSlices: db.prepare<[string, number], { namespace: string; name: string; service_name: string }>(
      'DELETE FROM endpoint_slices WHERE cluster = ? AND epoch <> ? RETURNING namespace, name, service_name',
    ),
    upsertNamespace: db.prepare<[cluster: string, name: string, uid: string, resourceVersion: string, epoch: number, seq: number]>(
      `INSERT INTO namespaces (cluster, name, uid, resource_version, epoch, seq) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (cluster, name) DO UPDATE SET ${objectUpdate}`,
    ),
    deleteNamespace: db.prepare<[string, string]>('DELETE FROM namespaces WHERE cluster = ? AND name = ?'),
    staleNamespaces: db.prepare<[string, number], string>(
      'DELETE FROM namespaces WHERE cluster = ? AND epoch <> ? RETURNING name',
    ).pluck(),
  };
}

export class Projection {
  private readonly statements: ProjectionStatements;
  private readonly applyInTransaction;

  constructor(private readonly model: ReadModel) {
    this.statements = prepareProjection(model.db);
    this.applyInTransaction = model.db.transaction((events: StoredEvent[], touched: Touched, rejected: Rejection[], observedAt: number[]) => {
      const s = this.statements;
      const objects = model.objectChanges;
      const clustersAdded = new Set<string>(); // one insert per cluster and batch, not per event
      for (const stored of events) {
        const decoded = decodeEvent(stored);
        if (typeof decoded === 'string') {
          s.reject.run(stored.seq, stored.id, stored.cluster, decoded, stored.payload);
          rejected.push({ seq: stored.seq, id: stored.id, cluster: stored.cluster, reason: decoded });
          continue;
        }
        if (!clustersAdded.has(decoded.cluster)) {
          clustersAdded.add(decoded.cluster);
          if (s.addCluster.run(decoded.cluster).changes > 0) touched.clusters = true;
        }
        applyEvent(s, objects, decoded, stored.seq, touched);
        observedAt.push(Date.parse(decoded.observedAt));
      }
      s.setLastApplied.run(events[events.length - 1]!.seq);
    });
  }

// Applies consecutive log events and records the last one as applied, in
  // one transaction: all of it happens exactly once, or none of it.
  // observedAt: when the agents saw each applied (not rejected) event, in ms since the epoch.
  applyBatch(events: StoredEvent[]): { touched: Touched; rejected: Rejection[]; observedAt: number[] } {
    const touched = nothingTouched();
    const rejected: Rejection[] = [];
    const observedAt: number[] = [];
    try {
      if (events.length > 0) this.applyInTransaction(events, touched, rejected, observedAt);
    } catch (err) {
      this.model.forgetObjects();
      throw err;
    }
    return { touched, rejected, observedAt };
  }
}

// The event, or why it is put aside.
export function decodeEvent(stored: StoredEvent): ChangeEvent | string {
  let raw: unknown;
  try {
    raw = JSON.parse(stored.payload);
  } catch {
    return 'payload is not JSON';
  }
  let event: ChangeEvent;
  try {
    event = parseEvent(raw);
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  if (event.cluster !== stored.cluster) {
    return `event says cluster ${event.cluster} but was published by cluster ${stored.cluster}`;
  }
  return event;
}

// Applies one valid event of a cluster already in the read model; adds what it changed to `touched`.
// `objects`: the objects held in memory, if any, told of every row written.
function applyEvent(s: ProjectionStatements, objects: ObjectChanges | undefined, event: ChangeEvent, seq: number, touched: Touched): void {
  switch (event.op) {
    case 'upsert':
      upsert(s, objects, event, seq, touched);
      break;
    case 'delete':
      remove(s, objects, event, touched);
      break;
    case 'sync-begin':
      s.setKinds.run(kindList(event.kinds), event.cluster);
      touched.clusters = true;
      break;
    case 'sync-end':
      endSync(s, objects, event, touched);
      break;
  }
}

function upsert(s: ProjectionStatements, objects: ObjectChanges | undefined, e: UpsertEvent, seq: number, touched: Touched): void {
  const { cluster, namespace, name, uid, resourceVersion, epoch } = e;
  switch (e.kind) {
    case 'ServiceImport': {
      const json = JSON.stringify(e.object);
      s.upsertImport.run(cluster, namespace, name, uid, resourceVersion, epoch, seq, json);
      objects?.setImport(cluster, namespace, name, e.object, json);
      touched.services.add(serviceKey(namespace, name));
      break;
    }
    case 'EndpointSlice': {
      const serviceName = e.object.serviceName;
      const json = JSON.stringify(e.object);
      if (s.upsertSliceOfSameService.run(cluster, namespace, name, uid, resourceVersion, epoch, seq, serviceName, json).changes === 0) {
        const before = s.sliceService.get(cluster, namespace, name)!;
        touched.services.add(serviceKey(namespace, before));
        objects?.deleteSlice(cluster, namespace, name, before);
        s.upsertSlice.run(cluster, namespace, name, uid, resourceVersion, epoch, seq, serviceName, json);
      }
      objects?.setSlice(cluster, namespace, name, serviceName, e.object, json);
      touched.services.add(serviceKey(namespace, serviceName));
      break;
    }
    case 'Namespace':
      s.upsertNamespace.run(cluster, name, uid, resourceVersion, epoch, seq);
      touched.namespaces.add(name);
      break;
  }
}

function remove(s: ProjectionStatements, objects: ObjectChanges | undefined, e: DeleteEvent, touched: Touched): void {
  switch (e.kind) {
    case 'ServiceImport':
      if (s.deleteImport.run(e.cluster, e.namespace, e.name).changes > 0) {
        objects?.deleteImport(e.cluster, e.namespace, e.name);
        touched.services.add(serviceKey(e.namespace, e.name));
      }
      break;
    case 'EndpointSlice': {
      const serviceName = s.deleteSlice.get(e.cluster, e.namespace, e.name);
      if (serviceName === undefined) break;
      objects?.deleteSlice(e.cluster, e.namespace, e.name, serviceName);
      touched.services.add(serviceKey(e.namespace, serviceName));
      break;
    }
    case 'Namespace':
      if (s.deleteNamespace.run(e.cluster, e.name).changes > 0) touched.namespaces.add(e.name);
      break;
  }
}

// Drops the cluster's objects of this kind that the re-list of this epoch did
// not contain, and counts the kind as synced.
function endSync(s: ProjectionStatements, objects: ObjectChanges | undefined, e: SyncEvent, touched: Touched): void {
  switch (e.kind) {
    case 'ServiceImport':
      for (const r of s.staleImports.all(e.cluster, e.epoch)) {
        objects?.deleteImport(e.cluster, r.namespace, r.name);
        touched.services.add(serviceKey(r.namespace, r.name));
      }
      break;
    case 'EndpointSlice':
      for (const r of s.staleSlices.all(e.cluster, e.epoch)) {
        objects?.deleteSlice(e.cluster, r.namespace, r.name, r.service_name);
        touched.services.add(serviceKey(r.namespace, r.service_name));
      }
      break;
    case 'Namespace':
      for (const name of s.staleNamespaces.all(e.cluster, e.epoch)) touched.namespaces.add(name);
      break;
  }
  const row = s.clusterSync.get(e.cluster)!;
  const syncedKinds = JSON.parse(row.synced_kinds) as Kind[];
  const nowSynced = [...syncedKinds, e.kind];
  const firstSyncedAt = row.first_synced_at ?? (isSynced(e.kinds, nowSynced) ? e.observedAt : null);
  s.setKinds.run(kindList(e.kinds), e.cluster);
  s.setSynced.run(kindList(nowSynced), firstSyncedAt, e.cluster);
  touched.clusters = true;
}

function kindList(kinds: readonly Kind[]): string {
  return JSON.stringify([...new Set(kinds)].sort());
}
