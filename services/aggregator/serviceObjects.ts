// The read model's ServiceImports and EndpointSlices, parsed and grouped by
// service, kept in step by the projection: the aggregator derives the view
// of each touched service from here, as an informer cache answers a
// controller, instead of reading and parsing its rows again from SQLite.
import type { EndpointSliceObject, ServiceImportObject } from '../../shared/events.js';
import type { ImportRow, SliceRow } from '../../shared/recordModel.js';
import { serviceKey } from '../../shared/view.js';

export interface ServiceRows {
  namespace: string;
  name: string;
  imports: ImportRow[]; // by cluster
  slices: SliceRow[]; // by cluster, then name
}

// What the projection tells the objects it keeps about each row it writes.
export interface ObjectChanges {
  setImport(cluster: string, namespace: string, name: string, object: ServiceImportObject, json: string): void;
  deleteImport(cluster: string, namespace: string, name: string): void;
  setSlice(cluster: string, namespace: string, name: string, serviceName: string, object: EndpointSliceObject, json: string): void;
  deleteSlice(cluster: string, namespace: string, name: string, serviceName: string): void;
}

interface Entry {
  namespace: string;
  name: string;
  imports: Map<string, ImportRow & { json: string }>; // by cluster
  slices: Map<string, SliceRow & { name: string; json: string }>; // by "<cluster> <slice name>"
  rows: ServiceRows | undefined; // sorted, built on the first read after a change
}

export class ServiceObjects implements ObjectChanges {
  private readonly entries = new Map<string, Entry>();
  private readonly clusters = new Set<string>(); // that ever held a slice

  setImport(cluster: string, namespace: string, name: string, object: ServiceImportObject, json: string): void {
    const entry = this.entry(namespace, name);
    const same = findSame(entry.imports.values(), json);
    entry.imports.set(cluster, { cluster, object: same?.object ?? object, json: same?.json ?? json });
    entry.rows = undefined;
  }

  deleteImport(cluster: string, namespace: string, name: string): void {
    const entry = this.entries.get(serviceKey(namespace, name));
    if (entry?.imports.delete(cluster)) this.changed(entry);
  }

  setSlice(cluster: string, namespace: string, name: string, serviceName: string, object: EndpointSliceObject, json: string): void {
    const entry = this.entry(namespace, serviceName);
    this.clusters.add(cluster);
    const same = findSame(sameNamed(entry, name, this.clusters), json);
    entry.slices.set(`${cluster} ${name}`, { cluster, name, object: same?.object ?? object, json: same?.json ?? json });
    entry.rows = undefined;
  }

  deleteSlice(cluster: string, namespace: string, name: string, serviceName: string): void {
    const entry = this.entries.get(serviceKey(namespace, serviceName));
    if (entry?.slices.delete(`${cluster} ${name}`)) this.changed(entry);
  }

  clear(): void {
    this.entries.clear();
  }

  // The service's rows in the read model's order; none when it has no objects.
  service(namespace: string, name: string): ServiceRows {
    const entry = this.entries.get(serviceKey(namespace, name));
    return entry ? rowsOf(entry) : { namespace, name, imports: [], slices: [] };
  }

  // Every service with an import, with its slices.
  services(): ServiceRows[] {
    const out: ServiceRows[] = [];
    for (const entry of this.entries.values()) if (entry.imports.size > 0) out.push(rowsOf(entry));
    return out;
  }

  private entry(namespace: string, name: string): Entry {
    const key = serviceKey(namespace, name);
    let entry = this.entries.get(key);
    if (!entry) this.entries.set(key, (entry = { namespace, name, imports: new Map(), slices: new Map(), rows: undefined }));
    return entry;
  }

  private changed(entry: Entry): void {
    entry.rows = undefined;
    if (entry.imports.size === 0 && entry.slices.size === 0) this.entries.delete(serviceKey(entry.namespace, entry.name));
  }
}

// Every cluster of a clusterset holds the same imports and, mostly under the
// same names, the same slices: one object and one JSON text are kept for what
// several clusters hold alike. What was just parsed then dies young, and the
// objects kept, which every garbage collection until then copies, are not
// multiplied by the number of clusters.
function findSame<T extends { json: string }>(rows: Iterable<T>, json: string): T | undefined {
  for (const row of rows) if (row.json === json) return row;
  return undefined;
}

// The service's slices of this name, in whichever cluster (a slice may come before its service's import).
function* sameNamed(entry: Entry, name: string, clusters: Set<string>): Generator<{ object: EndpointSliceObject; json: string }> {
  for (const cluster of clusters) {
    const slice = entry.slices.get(`${cluster} ${name}`);
    if (slice) yield slice;
  }
}

// The record model must not change what it is given: the rows are shared until the next change.
function rowsOf(entry: Entry): ServiceRows {
  entry.rows ??= {
    namespace: entry.namespace,
    name: entry.name,
    imports: [...entry.imports.values()].sort((a, b) => compare(a.cluster, b.cluster)),
    slices: [...entry.slices.values()].sort((a, b) => compare(a.cluster, b.cluster) || compare(a.name, b.name)),
  };
  return entry.rows;
}

// SQLite's BINARY collation, for the names Kubernetes allows (ASCII).
const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
