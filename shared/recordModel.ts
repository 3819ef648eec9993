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

// Returns undefined when the service owns no name: it is not imported, or it
// is headless with no ready endpoint (NXDOMAIN per the specification).
// Each RRset is built in its final order with its final SRV weight, and the
// names are stored in sorted order: nothing is built twice or sorted after.
export function serviceRecords(
  namespace: string,
  name: string,
  imports: ImportRow[],
  slices: SliceRow[],
): ServiceRecords | undefined {
  if (imports.length === 0) return undefined;
  const base = `${name}.${namespace}.svc`;
  const ports = namedPorts(imports);
  // A service is headless only when every importing cluster says so.
  if (imports.some((i) => i.object.type === 'ClusterSetIP')) {
    return namesOf(base, ports, [{ name: base, addresses: clusterSetIPs(imports) }], false);
  }
  const hosts = readyHosts(slices);
  if (hosts.size === 0) return undefined;
  const targets: Target[] = [];
  for (const [host, addresses] of hosts) targets.push({ name: `${host}.${base}`, addresses: [...addresses] });
  return namesOf(base, ports, targets.sort(byName), true);
}

// A name SRV records point at, with the addresses it answers.
interface Target {
  name: string;
  addresses: string[]; // distinct valid IPs
}

// The names of a service: the service name answers the addresses of every
// target and an SRV per target × port; each _port._proto name an SRV per
// target × its ports; headless targets are names of their own.
function namesOf(base: string, ports: ServicePort[], targets: Target[], ownTargetNames: boolean): ServiceRecords {
  const baseAddresses = targets.length === 1 ? targets[0]!.addresses : distinct(targets.flatMap((t) => t.addresses));
  const baseSrv = srvRecords(targets, ports);
  const names: [string, ViewRecord[]][] = [[base, addressRecords(baseAddresses).concat(baseSrv)]];
  // A _port._proto name of every port has the service name's SRV records, weights and all.
  for (const [srvName, named] of srvNames(ports, base)) names.push([srvName, named.length === ports.length ? baseSrv : srvRecords(targets, named)]);
  if (ownTargetNames) for (const t of targets) names.push([t.name, addressRecords(t.addresses)]);
  const out = nameRecord<ViewRecord[]>();
  for (const [n, records] of names.sort(byFirst)) out[n] = records;
  return { names: out };
}

// An SRV per target (sorted) × port (sorted), sharing a weight of 100.
function srvRecords(targets: Target[], ports: ServicePort[]): ViewRecord[] {
  const weight = Math.max(1, Math.floor(100 / Math.max(1, targets.length * ports.length)));
  const out: ViewRecord[] = [];
  for (const { name: target } of targets) {
    for (const { port } of ports) out.push({ type: 'SRV', priority: 0, weight, port, target });
  }
  return out;
}

// _<port>._<proto>.<base> → its ports, in port order.
function srvNames(ports: ServicePort[], base: string): Map<string, ServicePort[]> {
  const names = new Map<string, ServicePort[]>();
  for (const p of ports) {
    const n = `_${p.name.toLowerCase()}._${p.protocol.toLowerCase()}.${base}`;
    const list = names.get(n);
    if (list) list.push(p);
    else names.set(n, [p]);
  }
  return names;
}

const byName = (a: Target, b: Target): number => (a.name < b.name ? -1 : 1); // names are distinct
const byFirst = (a: [string, unknown], b: [string, unknown]): number => (a[0] < b[0] ? -1 : 1); // so are a service's names

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

// Named ports only (unnamed ports have no SRV name), each distinct one once, in port order.
function namedPorts(imports: ImportRow[]): ServicePort[] {
  const seen = new Map<string, ServicePort>();
  for (const i of imports) {
    for (const p of i.object.ports) {
      if (p.name === '' || !isDnsLabel(p.name.toLowerCase())) continue;
      const key = `${p.name.toLowerCase()}/${p.protocol}/${p.port}`;
      if (!seen.has(key)) seen.set(key, p);
    }
  }
  return [...seen.values()].sort((a, b) => a.port - b.port);
}

// The distinct valid IPs of the ClusterSetIP imports.
function clusterSetIPs(imports: ImportRow[]): string[] {
  const ips = new Set<string>();
  for (const i of imports) if (i.object.type === 'ClusterSetIP') for (const ip of i.object.ips) ips.add(ip);
  const out: string[] = [];
  for (const ip of ips) if (isIPv4(ip) || isIPv6(ip)) out.push(ip);
  return out;
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
      const set = hosts.get(key);
      if (set) for (const a of addresses) set.add(a);
      else hosts.set(key, new Set(addresses));
    }
  }
  return hosts;
}

function distinct(list: string[]): string[] {
  return [...new Set(list)];
}

// Valid IPs, each once → A records, then AAAA, each sorted: only IPv6 has a colon.
function addressRecords(ips: string[]): ViewRecord[] {
  const sorted = ips.length > 1 ? [...ips].sort() : ips;
  const out: ViewRecord[] = [];
  for (const address of sorted) if (!address.includes(':')) out.push({ type: 'A', address });
  if (out.length < sorted.length) for (const address of sorted) if (address.includes(':')) out.push({ type: 'AAAA', address });
  return out;
}
