// The record model: a pure function from one service's imports and endpoint
// slices (across every cluster) to the DNS names it owns, per the
// "DNS-Based Multicluster Service Discovery" specification 1.0.0.
import { isIPv4, isIPv6 } from 'node:net';
import type { EndpointSliceObject, ServiceImportObject, ServicePort } from './events.js';
import { isDnsLabel } from './events.js';
import { nameRecord, sameRecords, type ServiceRecords, type ViewRecord } from './view.js';

export interface ImportRow {
  cluster: string;
  object: ServiceImportObject;
  json?: string; // the object's JSON, when at hand: compared instead of writing it again
}

export interface SliceRow {
  cluster: string; // the publishing agent's cluster id
  object: EndpointSliceObject;
  json?: string;
}

type SrvRecord = Extract<ViewRecord, { type: 'SRV' }>;

// Returns undefined when the service owns no name: it is not imported, or it
// is headless with no ready endpoint (NXDOMAIN per the specification).
export function serviceRecords(
  namespace: string,
  name: string,
  imports: ImportRow[],
  slices: SliceRow[],
): ServiceRecords | undefined {
  if (imports.length === 0) return undefined;
  const base = `${name}.${namespace}.svc`;
  const ports = namedPorts(imports.flatMap((i) => i.object.ports));
  // A service is headless only when every importing cluster says so.
  const clusterSet = imports.filter((i) => i.object.type === 'ClusterSetIP');
  const names = new Map<string, ViewRecord[]>();
  const add = (n: string, r: ViewRecord) => {
    const list = names.get(n);
    if (list) list.push(r);
    else names.set(n, [r]);
  };

  const srvNames = ports.map((p) => srvName(p, base));
  if (clusterSet.length > 0) {
    names.set(base, addressRecords(clusterSet.flatMap((i) => i.object.ips)));
    ports.forEach((p, k) => {
      const srv: SrvRecord = { type: 'SRV', priority: 0, weight: 0, port: p.port, target: base };
      add(srvNames[k]!, srv);
      add(base, srv);
    });
  } else {
    const hosts = readyHosts(slices);
    if (hosts.size === 0) return undefined;
    const all = new Set<string>();
    for (const addresses of hosts.values()) for (const a of addresses) all.add(a);
    names.set(base, validAddressRecords(all));
    for (const [host, addresses] of hosts) {
      const target = `${host}.${base}`;
      names.set(target, validAddressRecords(addresses));
      ports.forEach((p, k) => {
        const srv: SrvRecord = { type: 'SRV', priority: 0, weight: 0, port: p.port, target };
        add(srvNames[k]!, srv);
        add(base, srv);
      });
    }
  }

  const out = nameRecord<ViewRecord[]>();
  for (const n of [...names.keys()].sort()) out[n] = finishRRsets(names.get(n)!);
  return { names: out };
}

// What records derive from: the distinct contents of imports and of slices.
// Nothing else counts (an object held by several clusters counts once), so
// the same contents give the same records.
export interface RecordSources {
  imports: Set<string>;
  slices: Set<string>;
}

export interface Derivation {
  sources: RecordSources;
  records: ServiceRecords | undefined;
}

export interface ClusterServiceRecords {
  union: ServiceRecords | undefined; // what serviceRecords gives: every cluster's rows
  overlays: Record<string, ServiceRecords | null>; // cluster id → its records, only where they differ from the union
  // What the union and each cluster's own records came from. Given back as
  // `known`, records whose sources are the same are not derived again.
  derivations: { union: Derivation; own: Record<string, Derivation> };
}

// One service as every cluster sees it, and as each of `clusters` sees it
// alone: through its own imports and the slices it holds (an importing
// cluster's ServiceImport may carry its own ClusterSetIP, and it holds only
// the slices it imports). Clusters that see the union get no overlay, so
// that a clusterset of alike clusters costs nothing.
export function serviceRecordsByCluster(
  namespace: string,
  name: string,
  imports: ImportRow[],
  slices: SliceRow[],
  clusters: readonly string[],
  known?: ClusterServiceRecords['derivations'],
): ClusterServiceRecords {
  // Each row's contents once: the same strings (their hashes kept) serve every comparison.
  const importContents = imports.map((i) => i.json ?? JSON.stringify(i.object));
  const sliceContents = slices.map(sliceContent);
  const all = { imports: new Set(importContents), slices: new Set(sliceContents) };
  const union = derive(known?.union, all, () => serviceRecords(namespace, name, imports, slices));
  const own: Record<string, Derivation> = { ...known?.own };
  const overlays: ClusterServiceRecords['overlays'] = nameRecord();
  for (const cluster of clusters) {
    const sources = { imports: contentsOf(imports, importContents, cluster), slices: contentsOf(slices, sliceContents, cluster) };
    // A cluster holding every distinct object sees the union, with no second computation.
    if (sources.imports.size === all.imports.size && sources.slices.size === all.slices.size) {
      delete own[cluster];
      continue;
    }
    const ownRecords = () => serviceRecords(namespace, name, imports.filter((i) => i.cluster === cluster), slices.filter((s) => s.cluster === cluster));
    const derived = (own[cluster] = derive(ownValue(own, cluster), sources, ownRecords));
    if (!sameRecords(derived.records, union.records)) overlays[cluster] = derived.records ?? null;
  }
  return { union: union.records, overlays, derivations: { union, own } };
}

function derive(known: Derivation | undefined, sources: RecordSources, records: () => ServiceRecords | undefined): Derivation {
  return known && sameSources(known.sources, sources) ? known : { sources, records: records() };
}

// The distinct contents of the rows of `cluster`.
function contentsOf(rows: readonly { cluster: string }[], contents: string[], cluster: string): Set<string> {
  const own = new Set<string>();
  rows.forEach((row, k) => {
    if (row.cluster === cluster) own.add(contents[k]!);
  });
  return own;
}

// Own properties only: a cluster may well be called "constructor".
function ownValue<T>(record: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

function sameSources(a: RecordSources, b: RecordSources): boolean {
  return sameSet(a.imports, b.imports) && sameSet(a.slices, b.slices);
}

function sameSet(a: Set<string>, b: Set<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

// A slice's content includes the cluster its endpoints are named after, which
// its JSON holds when it names a valid source cluster (no new string then).
function sliceContent(slice: SliceRow): string {
  const json = slice.json ?? JSON.stringify(slice.object);
  const source = slice.object.sourceCluster;
  return source !== undefined && isDnsLabel(source.toLowerCase()) ? json : `${slice.cluster} ${json}`;
}

// The cluster id endpoint names of a slice carry: its source cluster, else the
// cluster it was read from.
function sliceCluster({ cluster, object }: SliceRow): string {
  const source = object.sourceCluster?.toLowerCase();
  return source && isDnsLabel(source) ? source : cluster;
}

function srvName(p: ServicePort, base: string): string {
  return `_${p.name.toLowerCase()}._${p.protocol.toLowerCase()}.${base}`;
}

// Named ports only (unnamed ports have no SRV name), each distinct one once.
function namedPorts(ports: ServicePort[]): ServicePort[] {
  const seen = new Map<string, ServicePort>();
  for (const p of ports) {
    if (p.name === '' || !isDnsLabel(p.name.toLowerCase())) continue;
    seen.set(`${p.name.toLowerCase()}/${p.protocol}/${p.port}`, p);
  }
  return [...seen.values()];
}

// "<hostname>.<clusterid>" → the addresses (valid IPs) of that cluster's ready
// endpoints with that hostname. The same endpoint seen through two importing
// clusters (same source cluster, same address) is counted once; so is the
// same slice, which is read once.
function readyHosts(slices: SliceRow[]): Map<string, Set<string>> {
  const hosts = new Map<string, Set<string>>();
  const read = new Set<string>();
  for (const slice of slices) {
    const object = slice.object;
    if (object.addressType === 'FQDN') continue;
    if (slice.json !== undefined) {
      const content = sliceContent(slice);
      if (read.has(content)) continue;
      read.add(content);
    }
    const clusterId = sliceCluster(slice);
    for (const ep of object.endpoints) {
      if (!ep.ready) continue;
      const addresses = ep.addresses.filter((a) => isIPv4(a) || isIPv6(a));
      const first = addresses[0];
      if (first === undefined) continue;
      const hostname = (ep.hostname ?? first.replace(/[.:]/g, '-')).toLowerCase();
      if (!isDnsLabel(hostname)) continue;
      const key = `${hostname}.${clusterId}`;
      const set = hosts.get(key) ?? new Set<string>();
      for (const a of addresses) set.add(a);
      hosts.set(key, set);
    }
  }
  return hosts;
}

function addressRecords(ips: Iterable<string>): ViewRecord[] {
  const out: ViewRecord[] = [];
  for (const ip of new Set(ips)) {
    if (isIPv4(ip)) out.push({ type: 'A', address: ip });
    else if (isIPv6(ip)) out.push({ type: 'AAAA', address: ip });
  }
  return out;
}

// Addresses known to be IPv4 or IPv6, each once: only IPv6 has a colon.
function validAddressRecords(ips: Set<string>): ViewRecord[] {
  const out: ViewRecord[] = [];
  for (const ip of ips) out.push(ip.includes(':') ? { type: 'AAAA', address: ip } : { type: 'A', address: ip });
  return out;
}

// Sorted for a deterministic view; SRV weights share 100 within the RRset.
// In place: the lists are this computation's own; SRV records are shared between two, so they are copied.
function finishRRsets(records: ViewRecord[]): ViewRecord[] {
  let srvCount = 0;
  for (const r of records) if (r.type === 'SRV') srvCount++;
  const weight = Math.max(1, Math.floor(100 / Math.max(1, srvCount)));
  if (srvCount > 0) {
    records.forEach((r, k) => {
      if (r.type === 'SRV') records[k] = { type: 'SRV', priority: r.priority, weight, port: r.port, target: r.target };
    });
  }
  return records.length > 1 ? records.sort(compareRecords) : records;
}

function compareRecords(a: ViewRecord, b: ViewRecord): number {
  if (a.type !== b.type) return a.type < b.type ? -1 : 1;
  if (a.type === 'SRV' && b.type === 'SRV') {
    return a.target < b.target ? -1 : a.target > b.target ? 1 : a.port - b.port;
  }
  const x = (a as { address: string }).address;
  const y = (b as { address: string }).address;
  return x < y ? -1 : x > y ? 1 : 0;
}
