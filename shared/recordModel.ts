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
    const all: string[] = [];
    for (const addresses of hosts.values()) for (const a of addresses) all.push(a);
    names.set(base, addressRecords(all));
    for (const [host, addresses] of hosts) {
      const target = `${host}.${base}`;
      names.set(target, addressRecords(addresses));
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

export interface ClusterServiceRecords {
  union: ServiceRecords | undefined; // what serviceRecords gives: every cluster's rows
  overlays: Record<string, ServiceRecords | null>; // cluster id → its records, only where they differ from the union
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
  union = serviceRecords(namespace, name, imports, slices), // when the caller knows it already
): ClusterServiceRecords {
  const overlays: ClusterServiceRecords['overlays'] = nameRecord();
  if (clusters.length === 0) return { union, overlays };
  // Each row's contents once: the same strings (their hashes kept) serve every cluster's comparison.
  const importContents = imports.map((i) => i.json ?? JSON.stringify(i.object));
  const sliceContents = slices.map((s) => `${sliceCluster(s)} ${s.json ?? JSON.stringify(s.object)}`);
  const allImports = new Set(importContents);
  const allSlices = new Set(sliceContents);
  for (const cluster of clusters) {
    // The records depend only on which distinct objects there are: a cluster
    // holding every one of them sees the union, with no second computation.
    const ownImports = imports.filter((i) => i.cluster === cluster);
    const ownSlices = slices.filter((s) => s.cluster === cluster);
    if (holdsAll(imports, importContents, cluster, allImports) && holdsAll(slices, sliceContents, cluster, allSlices)) continue;
    const own = serviceRecords(namespace, name, ownImports, ownSlices);
    if (!sameRecords(own, union)) overlays[cluster] = own ?? null;
  }
  return { union, overlays };
}

// Whether the rows of `cluster` hold every distinct content there is.
function holdsAll(rows: readonly { cluster: string }[], contents: string[], cluster: string, all: Set<string>): boolean {
  const own = new Set<string>();
  rows.forEach((row, k) => {
    if (row.cluster === cluster) own.add(contents[k]!);
  });
  return own.size === all.size;
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

// "<hostname>.<clusterid>" → the addresses of that cluster's ready endpoints
// with that hostname. The same endpoint seen through two importing clusters
// (same source cluster, same address) is counted once.
function readyHosts(slices: SliceRow[]): Map<string, Set<string>> {
  const hosts = new Map<string, Set<string>>();
  for (const slice of slices) {
    const object = slice.object;
    if (object.addressType === 'FQDN') continue;
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

// Sorted for a deterministic view; SRV weights share 100 within the RRset.
function finishRRsets(records: ViewRecord[]): ViewRecord[] {
  const srvCount = records.filter((r) => r.type === 'SRV').length;
  const weight = Math.max(1, Math.floor(100 / Math.max(1, srvCount)));
  return records
    .map((r) => (r.type === 'SRV' ? { ...r, weight } : r))
    .sort(compareRecords);
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
