// Derives the DNS view from the read model: in full at start, then per batch
// only for what the batch touched.
import type { Logger } from '../../shared/logger.js';
import { serviceRecords } from '../../shared/recordModel.js';
import { serviceKey, type ClusterState, type DnsView, type ServiceRecords, type ViewDelta } from '../../shared/view.js';
import type { Touched } from './projection.js';
import type { ReadModel, ServiceRows } from './readModel.js';

export interface ViewSources {
  model: ReadModel;
  expectedClusters: readonly string[]; // count as not synced before any event of theirs
  logger: Logger;
}

export function fullView(src: ViewSources, version: number): DnsView {
  const services: Record<string, ServiceRecords> = {};
  for (const rows of src.model.services()) {
    const records = recordsOf(src, rows);
    if (records) services[serviceKey(rows.namespace, rows.name)] = records;
  }
  return { version, clusters: clusterStates(src), namespaces: src.model.namespaces(), services };
}

// The change from `view` (the state before the batch) to the read model's
// state after it; empty when the batch changed no answer.
export function viewDelta(src: ViewSources, view: DnsView, touched: Touched, to: number): ViewDelta {
  const delta: ViewDelta = { from: view.version, to, services: { upsert: {}, remove: [] } };
  for (const key of touched.services) {
    const slash = key.indexOf('/');
    const records = recordsOf(src, src.model.service(key.slice(0, slash), key.slice(slash + 1)));
    const before = view.services[key];
    if (!records) {
      if (before) delta.services.remove.push(key);
    } else if (!before || JSON.stringify(before) !== JSON.stringify(records)) {
      delta.services.upsert[key] = records;
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
  if (touched.clusters) {
    const clusters = clusterStates(src);
    if (JSON.stringify(clusters) !== JSON.stringify(view.clusters)) delta.clusters = clusters;
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

// A record model failure costs that service its names, never the aggregator.
function recordsOf(src: ViewSources, rows: ServiceRows): ServiceRecords | undefined {
  try {
    return serviceRecords(rows.namespace, rows.name, rows.imports, rows.slices);
  } catch (err) {
    src.logger.error({ service: serviceKey(rows.namespace, rows.name), err }, 'record model failed; the service gets no names');
    return undefined;
  }
}
