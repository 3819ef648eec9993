// The DNS view: what the aggregator derives from the read model and the
// frontends answer from. Names are relative to the zone (no trailing dot,
// lower case, e.g. "web.prod.svc"), so one view serves every --zone; TTLs are
// a frontend setting and not part of it.
import type { ViewBuilder } from './viewBuilder.js';

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

// A cluster's view differs from the union in a few services: its overlay
// holds just those, keyed "<ns>/<svc>"; null means the service has no name in
// that cluster's view (NXDOMAIN there).
export type ServiceOverlay = Record<string, ServiceRecords | null>;

export interface DnsView {
  version: number; // the last event-log sequence this view reflects
  clusters: ClusterState[]; // sorted by id
  namespaces: string[]; // sorted; known namespaces make "<ns>.svc" an empty non-terminal
  services: Record<string, ServiceRecords>; // key "<ns>/<svc>": the union over every cluster
  // Per importing cluster id, its overlay on `services`. Only synced clusters
  // have one, only non-empty overlays appear, and the field is absent when
  // none does: a cluster without an overlay sees the union.
  views?: Record<string, ServiceOverlay>;
}

// An ordered change from view `from` to view `to`. Applying it to a view of
// any other version is a gap: reload the snapshot.
export interface ViewDelta {
  from: number;
  to: number;
  clusters?: ClusterState[]; // the full list, when it changed
  namespaces?: { add: string[]; remove: string[] };
  services: { upsert: Record<string, ServiceRecords>; remove: string[] };
  // Per cluster id, the overlay entries that change: `remove` sends a service
  // back to the union. A cluster's whole overlay goes when `clusters` lists it
  // no longer, or as not synced.
  views?: Record<string, { upsert: ServiceOverlay; remove: string[] }>;
  // When the agents observed each event of this delta (ms since the epoch),
  // for the DNS programming latency measured where the delta is applied.
  observedAt?: number[];
}

// An empty record for keys that are names (a service's DNS names, service
// keys): a dictionary from the start. V8 gives an object built key by key
// from {} a new hidden class per new key, which for names seen once cost the
// record model more than all its other work; the prototype stays Object's.
export function nameRecord<T>(): Record<string, T> {
  return Object.setPrototypeOf(Object.create(null), Object.prototype) as Record<string, T>;
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
  if (delta.views || (delta.clusters && view.views)) applyViewChanges(view, delta);
  view.version = delta.to;
  return true;
}

// In place, like the services: copyView gives holders of a view their own overlays.
function applyViewChanges(view: DnsView, delta: ViewDelta): void {
  const views: Record<string, ServiceOverlay> = (view.views ??= {});
  for (const [cluster, change] of Object.entries(delta.views ?? {})) {
    const overlay: ServiceOverlay = Object.hasOwn(views, cluster) ? views[cluster]! : (views[cluster] = nameRecord());
    for (const k of change.remove) delete overlay[k];
    Object.assign(overlay, change.upsert);
    if (change.remove.length > 0 && isEmpty(overlay)) delete views[cluster]; // only a removal empties one
  }
  if (delta.clusters) {
    const synced = new Set(delta.clusters.filter((c) => c.synced).map((c) => c.id));
    for (const cluster of Object.keys(views)) if (!synced.has(cluster)) delete views[cluster];
  }
  if (isEmpty(views)) delete view.views;
}

// Without listing the keys of an overlay that may hold every service.
function isEmpty(record: object): boolean {
  for (const _ in record) return false;
  return true;
}

// A copy that applyDelta can change without touching `view`: its maps are
// its own, the records inside are shared (they are replaced, never edited).
export function copyView(view: DnsView): DnsView {
  const copy: DnsView = { ...view, clusters: [...view.clusters], namespaces: [...view.namespaces], services: { ...view.services } };
  if (view.views) copy.views = Object.fromEntries(Object.entries(view.views).map(([cluster, overlay]) => [cluster, { ...overlay }]));
  return copy;
}

// Whether two services' records are the same, as isDeepStrictEqual would
// say, at a fraction of its cost: this runs for every service a batch touches.
export function sameRecords(a: ServiceRecords | null | undefined, b: ServiceRecords | null | undefined): boolean {
  if (a === b) return true; // records kept from an earlier derivation
  if (!a || !b) return false;
  const names = Object.keys(a.names);
  if (names.length !== Object.keys(b.names).length) return false;
  for (const name of names) {
    const x = a.names[name]!;
    const y = Object.hasOwn(b.names, name) ? b.names[name]! : undefined;
    if (!y || x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!sameRecord(x[i]!, y[i]!)) return false;
  }
  return true;
}

function sameRecord(x: ViewRecord, y: ViewRecord): boolean {
  if (x.type !== y.type) return false;
  if (x.type === 'SRV') {
    const z = y as typeof x;
    return x.target === z.target && x.port === z.port && x.priority === z.priority && x.weight === z.weight;
  }
  return x.address === (y as typeof x).address;
}

// The records a client of `cluster` gets for service `key`: its cluster's
// overlay first, else the union (also for clients of no cluster).
export function viewFor(view: Pick<DnsView, 'services' | 'views'>, cluster: string | undefined, key: string): ServiceRecords | undefined {
  const overlay = cluster !== undefined && view.views && Object.hasOwn(view.views, cluster) ? view.views[cluster] : undefined;
  if (overlay && Object.hasOwn(overlay, key)) return overlay[key] ?? undefined;
  return Object.hasOwn(view.services, key) ? view.services[key] : undefined;
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
  // A feed that reads snapshots from bytes (NatsViewFeed) hands them to this
  // builder instead, part by part: the listener never holds the whole view.
  snapshotBuilder?(): ViewBuilder;
}

// One delta doing what `deltas` do in turn, or undefined when they cannot be
// one: one does not follow the one before, or one but the last changes the
// clusters (dropping overlays that a later one may build anew). Lets a
// publisher that fell behind catch up in one message; linear in their size.
export function mergeDeltas(deltas: ViewDelta[]): ViewDelta | undefined {
  const first = deltas[0];
  if (!first) return undefined;
  for (let i = 1; i < deltas.length; i++) if (deltas[i]!.from !== deltas[i - 1]!.to || deltas[i - 1]!.clusters) return undefined;
  const services = new Changes<ServiceRecords>();
  const views = new Map<string, Changes<ServiceRecords | null>>();
  const added = new Set<string>();
  const removed = new Set<string>();
  let namespaces = false;
  const observedAt: number[] = [];
  for (const d of deltas) {
    services.add(d.services);
    for (const [cluster, change] of Object.entries(d.views ?? {})) {
      let changes = views.get(cluster);
      if (!changes) views.set(cluster, (changes = new Changes()));
      changes.add(change);
    }
    if (d.namespaces) {
      namespaces = true;
      for (const n of d.namespaces.remove) if (!added.delete(n)) removed.add(n);
      for (const n of d.namespaces.add) if (!removed.delete(n)) added.add(n);
    }
    if (d.observedAt) observedAt.push(...d.observedAt);
  }
  const last = deltas[deltas.length - 1]!;
  const merged: ViewDelta = { from: first.from, to: last.to, services: services.result() };
  if (last.clusters) merged.clusters = last.clusters;
  if (namespaces) merged.namespaces = { add: [...added].sort(), remove: [...removed].sort() };
  if (views.size > 0) merged.views = Object.fromEntries([...views].map(([cluster, changes]) => [cluster, changes.result()]));
  if (deltas.some((d) => d.observedAt)) merged.observedAt = observedAt;
  return merged;
}

// Upserts and removals of keys, the later winning.
class Changes<T> {
  private readonly upsert = new Map<string, T>();
  private readonly remove = new Set<string>();

  add(change: { upsert: Record<string, T>; remove: string[] }): void {
    for (const key of change.remove) {
      this.upsert.delete(key);
      this.remove.add(key);
    }
    for (const [key, value] of Object.entries(change.upsert)) {
      this.upsert.set(key, value);
      this.remove.delete(key);
    }
  }

  result(): { upsert: Record<string, T>; remove: string[] } {
    return { upsert: Object.fromEntries(this.upsert), remove: [...this.remove] };
  }
}
