// Derives the DNS view from the read model: in full at start, then only for
// what the events applied since the last delta touched.
import type { Logger } from '../../shared/logger.js';
import { serviceRecordsByCluster, type ClusterServiceRecords } from '../../shared/recordModel.js';
import {
  nameRecord,
  sameRecords,
  serviceKey,
  type ClusterState,
  type DnsView,
  type ServiceOverlay,
  type ServiceRecords,
  type ViewDelta,
} from '../../shared/view.js';
import type { Touched } from './projection.js';
import type { ReadModel } from './readModel.js';
import type { ServiceRows } from './serviceObjects.js';

export interface ViewSources {
  model: ReadModel;
  expectedClusters: readonly string[]; // count as not synced before any event of theirs
  logger: Logger;
  // Each service's records as last derived, and from what: those whose
  // sources did not change (another cluster importing the same object, a
  // change in another cluster's rows) are kept without the record model.
  derived?: Map<string, ClusterServiceRecords['derivations']>;
}

export function fullView(src: ViewSources, version: number): DnsView {
  const clusters = clusterStates(src);
  const viewed = viewedClusters(clusters);
  const services = nameRecord<ServiceRecords>();
  const views: Record<string, ServiceOverlay> = {};
  for (const rows of src.model.services()) {
    const key = serviceKey(rows.namespace, rows.name);
    const { union, overlays } = recordsOf(src, rows, viewed);
    if (union) services[key] = union;
    for (const [cluster, records] of Object.entries(overlays)) ownEntry(views, cluster, (): ServiceOverlay => ({}))[key] = records;
  }
  const view: DnsView = { version, clusters, namespaces: src.model.namespaces(), services };
  if (Object.keys(views).length > 0) view.views = views;
  return view;
}

// The change from `view` (the state before the events) to the read model's
// state after them; empty when they changed no answer.
export function viewDelta(src: ViewSources, view: DnsView, touched: Touched, to: number): ViewDelta {
  const delta: ViewDelta = { from: view.version, to, services: { upsert: nameRecord(), remove: [] } };
  const clusters = touched.clusters ? clusterStates(src) : view.clusters;
  if (clusters !== view.clusters && JSON.stringify(clusters) !== JSON.stringify(view.clusters)) delta.clusters = clusters;
  const viewed = viewedClusters(clusters);
  for (const key of touched.services) {
    const slash = key.indexOf('/');
    const { union, overlays } = recordsOf(src, src.model.service(key.slice(0, slash), key.slice(slash + 1)), viewed);
    const before = view.services[key];
    if (!union) {
      if (before) delta.services.remove.push(key);
    } else if (!sameRecords(before, union)) {
      delta.services.upsert[key] = union;
    }
    for (const cluster of viewed) overlayChange(delta, view, cluster, key, overlays);
  }
  // A cluster that just finished its first sync gets its overlay of every service.
  const viewedBefore = new Set(viewedClusters(view.clusters));
  const newlyViewed = viewed.filter((id) => !viewedBefore.has(id));
  if (newlyViewed.length > 0) {
    for (const rows of src.model.services()) {
      const key = serviceKey(rows.namespace, rows.name);
      if (touched.services.has(key)) continue;
      const { overlays } = recordsOf(src, rows, newlyViewed);
      for (const cluster of newlyViewed) overlayChange(delta, view, cluster, key, overlays);
    }
  }
  if (touched.namespaces.size > 0) {
    const known = new Set(view.namespaces);
    const add: string[] = [];
    const remove: string[] = [];
    for (const name of touched.namespaces) {
      const exists = src.model.hasNamespace(name);
      if (exists && !known.has(name)) add.push(name);
      if (!exists && known.has(name)) remove.push(name);
    }
    if (add.length > 0 || remove.length > 0) delta.namespaces = { add: add.sort(), remove: remove.sort() };
  }
  return delta;
}

// Known clusters and expected ones, sorted by id.
function clusterStates(src: ViewSources): ClusterState[] {
  const known = src.model.clusters();
  const ids = new Set(known.map((c) => c.id));
  const expected = src.expectedClusters.filter((id) => !ids.has(id)).map((id) => ({ id, synced: false }));
  return [...known, ...expected].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

// Clusters that get a view of their own: until its first sync ends, what a
// cluster imports is not known, and its clients get the union.
function viewedClusters(clusters: readonly ClusterState[]): string[] {
  return clusters.filter((c) => c.synced).map((c) => c.id);
}

// Adds to the delta what turns the view's overlay entry of `cluster` for
// `key` into the one in `overlays` (none there: back to the union).
function overlayChange(delta: ViewDelta, view: DnsView, cluster: string, key: string, overlays: ClusterServiceRecords['overlays']): void {
  const before = ownValue(ownValue(view.views ?? {}, cluster) ?? {}, key);
  const after = ownValue(overlays, cluster);
  if (after === undefined) {
    if (before !== undefined) ownEntry((delta.views ??= {}), cluster, emptyChange).remove.push(key);
  } else if (before === undefined || !sameRecords(before, after)) {
    ownEntry((delta.views ??= {}), cluster, emptyChange).upsert[key] = after;
  }
}

const emptyChange = (): { upsert: ServiceOverlay; remove: string[] } => ({ upsert: nameRecord(), remove: [] });

// Own properties only: a cluster may well be called "constructor".
function ownValue<T>(record: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

function ownEntry<T>(record: Record<string, T>, key: string, create: () => T): T {
  if (!Object.hasOwn(record, key)) record[key] = create();
  return record[key]!;
}

// A record model failure costs that service its names, never the aggregator.
function recordsOf(src: ViewSources, rows: ServiceRows, clusters: readonly string[]): Pick<ClusterServiceRecords, 'union' | 'overlays'> {
  const key = serviceKey(rows.namespace, rows.name);
  try {
    const records = serviceRecordsByCluster(rows.namespace, rows.name, rows.imports, rows.slices, clusters, src.derived?.get(key));
    if (rows.imports.length === 0 && rows.slices.length === 0) src.derived?.delete(key);
    else src.derived?.set(key, records.derivations);
    return records;
  } catch (err) {
    src.logger.error({ service: key, err }, 'record model failed; the service gets no names');
    return { union: undefined, overlays: {} };
  }
}
