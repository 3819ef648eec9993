// --prefer-own-cluster: in a view, the records of the view cluster's own
// endpoints come first. Which records those are, from a service's names alone.

import type { ServiceRecords, ViewRecord } from '../../shared/view.js';

// The endpoint names of `cluster` in a service ("<host>.<cluster>.<svc>.<ns>.svc",
// the targets of its SRV records) and their addresses.
export function ownRecords(service: ServiceRecords, cluster: string): Set<string> {
  const own = new Set<string>();
  for (const [name, c] of endpointClusters(service)) {
    if (c !== cluster) continue;
    own.add(name);
    for (const r of service.names[name]!) if (r.type !== 'SRV') own.add(r.address);
  }
  return own;
}

// Whether the service has endpoints of `cluster` and of another cluster.
export function mixesOwn(service: ServiceRecords, cluster: string): boolean {
  const clusters = new Set(endpointClusters(service).values());
  return clusters.has(cluster) && clusters.size > 1;
}

// Stable: the records `own` holds (by address or SRV target), then the others.
export function ownFirst(records: ViewRecord[], own: Set<string>): ViewRecord[] {
  const isOwn = (r: ViewRecord) => own.has(r.type === 'SRV' ? r.target : r.address);
  return [...records.filter(isOwn), ...records.filter((r) => !isOwn(r))];
}

// Endpoint name → its cluster label: the names two labels below the
// service's name (the shortest), except its _port._proto SRV names.
function endpointClusters(service: ServiceRecords): Map<string, string> {
  const names = Object.keys(service.names);
  const base = names.reduce((a, b) => (b.length < a.length ? b : a), names[0] ?? '');
  const out = new Map<string, string>();
  for (const name of names) {
    const labels = name.slice(0, name.length - base.length - 1).split('.');
    if (labels.length === 2 && !name.startsWith('_') && name.endsWith(`.${base}`)) out.set(name, labels[1]!);
  }
  return out;
}
