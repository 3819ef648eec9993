// The aggregator's read model: what the event log says every cluster holds,
// in SQLite (WAL). The schema and the reads live here; every write is in
// projection.ts.
import type Database from 'better-sqlite3';
import type { EndpointSliceObject, Kind, ServiceImportObject } from '../../shared/events.js';
import type { ImportRow, SliceRow } from '../../shared/recordModel.js';
import { silentLogger, type Logger } from '../../shared/logger.js';
import { openSqlite } from '../../shared/sqliteEventLog.js';
import { serviceKey, type ClusterState } from '../../shared/view.js';
import { ServiceObjects, type ObjectChanges, type ServiceRows } from './serviceObjects.js';
import { WalCheckpointer } from './walCheckpointer.js';

const MIGRATIONS = [
  `CREATE TABLE meta (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     last_applied_seq INTEGER NOT NULL
   );
   INSERT INTO meta (id, last_applied_seq) VALUES (1, 0);

   CREATE TABLE clusters (
     id TEXT PRIMARY KEY,
     kinds TEXT NOT NULL DEFAULT '[]',        -- JSON: the kinds its agent watches, from the latest sync event
     synced_kinds TEXT NOT NULL DEFAULT '[]', -- JSON: the kinds that completed at least one sync
     first_synced_at TEXT                     -- observedAt of the sync-end that completed its first full sync
   );

   -- Object rows: seq is the event that last wrote the row, epoch its sync epoch.
   CREATE TABLE service_imports (
     cluster TEXT NOT NULL,
     namespace TEXT NOT NULL,
     name TEXT NOT NULL,
     uid TEXT NOT NULL,
     resource_version TEXT NOT NULL,
     epoch INTEGER NOT NULL,
     seq INTEGER NOT NULL,
     object TEXT NOT NULL,
     PRIMARY KEY (cluster, namespace, name)
   );
   CREATE INDEX service_imports_service ON service_imports (namespace, name, cluster);

   CREATE TABLE endpoint_slices (
     cluster TEXT NOT NULL,
     namespace TEXT NOT NULL,
     name TEXT NOT NULL,
     service_name TEXT NOT NULL,
     uid TEXT NOT NULL,
     resource_version TEXT NOT NULL,
     epoch INTEGER NOT NULL,
     seq INTEGER NOT NULL,
     object TEXT NOT NULL,
     PRIMARY KEY (cluster, namespace, name)
   );
   CREATE INDEX endpoint_slices_service ON endpoint_slices (namespace, service_name, cluster, name);

   CREATE TABLE namespaces (
     cluster TEXT NOT NULL,
     name TEXT NOT NULL,
     uid TEXT NOT NULL,
     resource_version TEXT NOT NULL,
     epoch INTEGER NOT NULL,
     seq INTEGER NOT NULL,
     PRIMARY KEY (cluster, name)
   );
   CREATE INDEX namespaces_name ON namespaces (name);

   -- Events put aside: malformed, or claiming another cluster than the one that published them.
   CREATE TABLE rejected_events (
     seq INTEGER PRIMARY KEY,
     id TEXT NOT NULL,
     cluster TEXT NOT NULL,
     reason TEXT NOT NULL,
     payload TEXT NOT NULL
   );`,
];

const READ_MODEL_CACHE_KIB = 256 * 1024; // an upper bound: SQLite allocates pages as it uses them
// About 40 MB. A catch-up writes about a page per event into the WAL; each copy of the WAL into the file
// rewrites most of the file and waits for two fsyncs, so a worker does it rather than the commits.
const READ_MODEL_WAL_PAGES = 10_000;
// A worker starved of CPU (a loaded machine) may not find the writer between two commits
// for a long while: past this many pages the commits copy the WAL themselves, so it stays bounded.
const WAL_BACKSTOP_PAGES = 2 * READ_MODEL_WAL_PAGES;
const WAL_CHECK_INTERVAL_MS = 100;

// A cluster is synced once every kind its agent watches completed a sync.
export function isSynced(kinds: readonly Kind[], syncedKinds: readonly Kind[]): boolean {
  return kinds.length > 0 && kinds.every((k) => syncedKinds.includes(k));
}

export interface ReadModelOptions {
  // Keep every ServiceImport and EndpointSlice parsed in memory for service()
  // and services() (the aggregator); else they read SQLite (audits, replay).
  objectsInMemory?: boolean;
  logger?: Logger;
}

interface ObjectRow {
  cluster: string;
  object: string;
}

export class ReadModel {
  private readonly lastAppliedSeq;
  private readonly importsOfService;
  private readonly slicesOfService;
  private readonly allImports;
  private readonly allSlices;
  private readonly clusterRows;
  private readonly namespaceNames;
  private readonly namespaceExists;
  private readonly rejectedCount;
  private objects: ServiceObjects | undefined; // loaded on the first read when kept in memory

  private constructor(
    readonly db: Database.Database,
    readonly path: string,
    private readonly objectsInMemory: boolean,
    private readonly walCheckpointer: WalCheckpointer | undefined,
  ) {
    this.lastAppliedSeq = db.prepare<[], number>('SELECT last_applied_seq FROM meta').pluck();
    // One order for the incremental and the full build (the indexes' order, no sort step).
    this.importsOfService = db.prepare<[string, string], ObjectRow>(
      'SELECT cluster, object FROM service_imports WHERE namespace = ? AND name = ? ORDER BY cluster',
    );
    this.slicesOfService = db.prepare<[string, string], ObjectRow>(
      'SELECT cluster, object FROM endpoint_slices WHERE namespace = ? AND service_name = ? ORDER BY cluster, name',
    );
    this.allImports = db.prepare<[], ObjectRow & { namespace: string; name: string }>(
      'SELECT namespace, name, cluster, object FROM service_imports ORDER BY namespace, name, cluster',
    );
    this.allSlices = db.prepare<[], ObjectRow & { namespace: string; service_name: string; name: string }>(
      'SELECT namespace, service_name, cluster, name, object FROM endpoint_slices ORDER BY namespace, service_name, cluster, name',
    );
    this.clusterRows = db.prepare<[], { id: string; kinds: string; synced_kinds: string }>(
      'SELECT id, kinds, synced_kinds FROM clusters ORDER BY id',
    );
    this.namespaceNames = db.prepare<[], string>('SELECT DISTINCT name FROM namespaces ORDER BY name').pluck();
    this.namespaceExists = db.prepare<[string], number>('SELECT 1 FROM namespaces WHERE name = ? LIMIT 1').pluck();
    this.rejectedCount = db.prepare<[], number>('SELECT count(*) FROM rejected_events').pluck();
  }

  // Opens or creates the read model, migrating it to the current schema.
  static open(path: string, opts: ReadModelOptions = {}): ReadModel {
    const db = openSqlite(path, 'read model', MIGRATIONS);
    // Every event updates a row somewhere in the tables: keep them in memory rather than re-read pages from the file.
    db.pragma(`cache_size = -${READ_MODEL_CACHE_KIB}`);
    return new ReadModel(db, path, opts.objectsInMemory ?? false, startWalCheckpoints(db, path, opts.logger ?? silentLogger));
  }

  lastApplied(): number {
    return this.lastAppliedSeq.get()!;
  }

  rejectedEvents(): number {
    return this.rejectedCount.get()!;
  }

  // Where the projection reports the objects it writes; undefined when none are held in memory.
  get objectChanges(): ObjectChanges | undefined {
    return this.objects;
  }

  // After a failed batch the objects in memory may hold what was rolled back:
  // the next read loads them again from the committed rows.
  forgetObjects(): void {
    this.objects = undefined;
  }

  service(namespace: string, name: string): ServiceRows {
    const objects = this.objectsInMemory ? this.loadedObjects() : undefined;
    if (objects) return objects.service(namespace, name);
    return {
      namespace,
      name,
      imports: this.importsOfService.all(namespace, name).map(importRow),
      slices: this.slicesOfService.all(namespace, name).map(sliceRow),
    };
  }

  // Every service that has an import (only those own names), with its slices.
  services(): ServiceRows[] {
    if (this.objectsInMemory) return this.loadedObjects().services();
    const byKey = new Map<string, ServiceRows>();
    for (const row of this.allImports.iterate()) {
      const key = serviceKey(row.namespace, row.name);
      let service = byKey.get(key);
      if (!service) byKey.set(key, (service = { namespace: row.namespace, name: row.name, imports: [], slices: [] }));
      service.imports.push(importRow(row));
    }
    for (const row of this.allSlices.iterate()) {
      byKey.get(serviceKey(row.namespace, row.service_name))?.slices.push(sliceRow(row));
    }
    return [...byKey.values()];
  }

  private loadedObjects(): ServiceObjects {
    if (this.objects) return this.objects;
    const objects = new ServiceObjects();
    for (const r of this.allImports.iterate()) objects.setImport(r.cluster, r.namespace, r.name, JSON.parse(r.object) as ServiceImportObject, r.object);
    for (const r of this.allSlices.iterate()) {
      objects.setSlice(r.cluster, r.namespace, r.name, r.service_name, JSON.parse(r.object) as EndpointSliceObject, r.object);
    }
    return (this.objects = objects);
  }

  // Clusters known from events, sorted by id.
  clusters(): ClusterState[] {
    return this.clusterRows.all().map((r) => ({
      id: r.id,
      synced: isSynced(JSON.parse(r.kinds) as Kind[], JSON.parse(r.synced_kinds) as Kind[]),
    }));
  }

  // Namespace names known in any cluster, sorted.
  namespaces(): string[] {
    return this.namespaceNames.all();
  }

  hasNamespace(name: string): boolean {
    return this.namespaceExists.get(name) !== undefined;
  }

  // The worker's connection first, so that the last one to close copies the WAL into the file and removes it.
  close(): void {
    this.walCheckpointer?.close();
    this.db.close();
  }
}

// A worker copies the WAL into the file; if it fails or falls far behind, the commits do (SQLite's wal_autocheckpoint).
function startWalCheckpoints(db: Database.Database, path: string, logger: Logger): WalCheckpointer | undefined {
  if (path === '' || path === ':memory:') return undefined; // no WAL
  const walLimitBytes = READ_MODEL_WAL_PAGES * (db.pragma('page_size', { simple: true }) as number);
  db.pragma(`wal_autocheckpoint = ${WAL_BACKSTOP_PAGES}`);
  // A WAL file that grew while the worker fell behind shrinks back when the writer starts it over.
  db.pragma(`journal_size_limit = ${walLimitBytes}`);
  return WalCheckpointer.start({ dbPath: path, walLimitBytes, intervalMs: WAL_CHECK_INTERVAL_MS }, (why) => {
    logger.warn({ err: why, path }, 'read model WAL checkpoints: the worker failed; the commits checkpoint instead');
    db.pragma(`wal_autocheckpoint = ${READ_MODEL_WAL_PAGES}`);
  });
}

function importRow(r: ObjectRow): ImportRow {
  return { cluster: r.cluster, object: JSON.parse(r.object) as ServiceImportObject, json: r.object };
}

function sliceRow(r: ObjectRow): SliceRow {
  return { cluster: r.cluster, object: JSON.parse(r.object) as EndpointSliceObject, json: r.object };
}
