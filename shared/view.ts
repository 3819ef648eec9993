// The DNS view: what the aggregator derives from the read model and the
// frontends answer from. Names are relative to the zone (no trailing dot,
// lower case, e.g. "web.prod.svc"), so one view serves every --zone; TTLs are
// a frontend setting and not part of it.

export type ViewRecord =
  | { type: 'A'; address: string }
  | { type: 'AAAA'; address: string }
  // target is zone-relative too; the frontend appends the zone.
  | { type: 'SRV'; priority: number; weight: number; port: number; target: string };

// Every name a service owns lies under "<svc>.<ns>.svc": the service name, its
// _port._proto SRV names, and the per-endpoint "<host>.<cluster>.<svc>.<ns>.svc".
export interface ServiceRecords {
  names: Record<string, ViewRecord[]>;
}

export interface ClusterState {
  id: string;
  synced: boolean; // finished its first sync of every kind it watches
}

export interface DnsView {
  version: number; // the last event-log sequence this view reflects
  clusters: ClusterState[]; // sorted by id
  namespaces: string[]; // sorted; known namespaces make "<ns>.svc" an empty non-terminal
  services: Record<string, ServiceRecords>; // key "<ns>/<svc>"
}

// An ordered change from view `from` to view `to`. Applying it to a view of
// any other version is a gap: reload the snapshot.
export interface ViewDelta {
  from: number;
  to: number;
  clusters?: ClusterState[]; // the full list, when it changed
  namespaces?: { add: string[]; remove: string[] };
  services: { upsert: Record<string, ServiceRecords>; remove: string[] };
  // When the agents observed each event of this delta (ms since the epoch),
  // for the DNS programming latency measured where the delta is applied.
  observedAt?: number[];
}

export function serviceKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

export function allSynced(view: Pick<DnsView, 'clusters'>): boolean {
  return view.clusters.every((c) => c.synced);
}

// Applies a delta to a view in place. Returns false (and changes nothing)
// when the delta does not start at the view's version.
export function applyDelta(view: DnsView, delta: ViewDelta): boolean {
  if (delta.from !== view.version) return false;
  if (delta.clusters) view.clusters = delta.clusters;
  if (delta.namespaces) {
    const ns = new Set(view.namespaces);
    for (const n of delta.namespaces.remove) ns.delete(n);
    for (const n of delta.namespaces.add) ns.add(n);
    view.namespaces = [...ns].sort();
  }
  for (const k of delta.services.remove) delete view.services[k];
  Object.assign(view.services, delta.services.upsert);
  view.version = delta.to;
  return true;
}

// Where views come from: in `serve` the aggregator in the same process; in
// distributed mode a NATS subscription. A subscriber gets the current
// snapshot first (when there is one), then every delta in order.
export interface ViewFeed {
  subscribe(listener: ViewListener): () => void;
}

export interface ViewListener {
  snapshot(view: DnsView): void;
  delta(delta: ViewDelta): void;
}
