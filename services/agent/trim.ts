// Kubernetes objects → the DNS-relevant fields of shared/events.ts, in a
// canonical order, so equal content always gives an equal JSON string.
//
// Fields are read by their JSON names, which client-node's model classes share
// for everything read here: plain watch JSON and typed list items (class
// instances with Dates) go through this one path unchanged.

import {
  SERVICE_NAME_LABEL,
  SOURCE_CLUSTER_LABEL,
  type Endpoint,
  type EndpointSliceObject,
  type Kind,
  type NamespaceObject,
  type ObjectRef,
  type ServiceImportObject,
  type ServicePort,
} from '../../shared/events.js';

export type TrimmedObject = ServiceImportObject | EndpointSliceObject | NamespaceObject;

// Called with the reason when an object cannot be trimmed at all.
export type RejectReason = (reason: string) => void;

type Fields = Record<string, unknown>;

function fields(x: unknown): Fields | undefined {
  return typeof x === 'object' && x !== null && !Array.isArray(x) ? (x as Fields) : undefined;
}

function nonEmptyString(x: unknown): string | undefined {
  return typeof x === 'string' && x !== '' ? x : undefined;
}

function strings(x: unknown): string[] {
  return Array.isArray(x) ? x.filter((s): s is string => typeof s === 'string' && s !== '') : [];
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareTextLists(a: string[], b: string[]): number {
  for (let i = 0; i < a.length && i < b.length; i++) {
    const order = compareText(a[i]!, b[i]!);
    if (order !== 0) return order;
  }
  return a.length - b.length;
}

// A total order on endpoint content (every field), so equal slices sort alike.
function compareEndpoints(a: Endpoint, b: Endpoint): number {
  return compareTextLists(a.addresses, b.addresses) || compareText(a.hostname ?? '', b.hostname ?? '') || Number(a.ready) - Number(b.ready);
}

function comparePorts(a: ServicePort, b: ServicePort): number {
  return a.port - b.port || compareText(a.protocol, b.protocol) || compareText(a.name, b.name);
}

// A port without a usable number (EndpointSlice: "all ports") or with an
// unknown protocol has no DNS meaning and is skipped.
function trimPorts(raw: unknown): ServicePort[] {
  if (!Array.isArray(raw)) return [];
  const ports: ServicePort[] = [];
  for (const item of raw) {
    const p = fields(item);
    const port = p?.port;
    if (!p || typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) continue;
    const protocol = p.protocol ?? 'TCP';
    if (protocol !== 'TCP' && protocol !== 'UDP' && protocol !== 'SCTP') continue;
    ports.push({ name: typeof p.name === 'string' ? p.name : '', protocol, port });
  }
  return ports.sort(comparePorts);
}

export function trimServiceImport(raw: unknown, reject?: RejectReason): ServiceImportObject | undefined {
  const spec = fields(fields(raw)?.spec);
  const type = spec?.type;
  if (type !== 'ClusterSetIP' && type !== 'Headless') {
    reject?.(`spec.type ${JSON.stringify(type)} is neither ClusterSetIP nor Headless`);
    return undefined;
  }
  return { type, ips: strings(spec?.ips).sort(compareText), ports: trimPorts(spec?.ports) };
}

function trimEndpoint(raw: unknown): Endpoint | undefined {
  const e = fields(raw);
  // The first address carries the meaning (the others have none defined), so order is kept.
  const addresses = strings(e?.addresses);
  if (!e || addresses.length === 0) return undefined;
  const hostname = nonEmptyString(e.hostname);
  return { addresses, ...(hostname !== undefined && { hostname }), ready: fields(e.conditions)?.ready !== false };
}

export function trimEndpointSlice(raw: unknown, reject?: RejectReason): EndpointSliceObject | undefined {
  const slice = fields(raw);
  const labels = fields(fields(slice?.metadata)?.labels);
  const serviceName = nonEmptyString(labels?.[SERVICE_NAME_LABEL]);
  if (serviceName === undefined) {
    reject?.(`label ${SERVICE_NAME_LABEL} is missing`);
    return undefined;
  }
  const addressType = slice?.addressType;
  if (addressType !== 'IPv4' && addressType !== 'IPv6' && addressType !== 'FQDN') {
    reject?.(`addressType ${JSON.stringify(addressType)} is not IPv4, IPv6 or FQDN`);
    return undefined;
  }
  const endpoints = (Array.isArray(slice?.endpoints) ? slice.endpoints : [])
    .map(trimEndpoint)
    .filter((e): e is Endpoint => e !== undefined)
    .sort(compareEndpoints);
  const sourceCluster = nonEmptyString(labels?.[SOURCE_CLUSTER_LABEL]);
  return {
    serviceName,
    ...(sourceCluster !== undefined && { sourceCluster }),
    addressType,
    endpoints,
    ports: trimPorts(slice?.ports),
  };
}

export function trimObject(kind: Kind, raw: unknown, reject?: RejectReason): TrimmedObject | undefined {
  switch (kind) {
    case 'ServiceImport':
      return trimServiceImport(raw, reject);
    case 'EndpointSlice':
      return trimEndpointSlice(raw, reject);
    case 'Namespace':
      return {};
  }
}

// The identity of an object as events carry it; undefined when it has no name
// (or, for a namespaced kind, no namespace).
export function objectRef(kind: Kind, raw: unknown): ObjectRef | undefined {
  const meta = fields(fields(raw)?.metadata);
  const name = nonEmptyString(meta?.name);
  const namespace = kind === 'Namespace' ? '' : nonEmptyString(meta?.namespace);
  if (name === undefined || namespace === undefined) return undefined;
  return {
    namespace,
    name,
    uid: typeof meta?.uid === 'string' ? meta.uid : '',
    resourceVersion: typeof meta?.resourceVersion === 'string' ? meta.resourceVersion : '',
  };
}

// The informer-cache key of an object: unique per kind within one cluster.
export function objectKey(ref: Pick<ObjectRef, 'namespace' | 'name'>): string {
  return `${ref.namespace}/${ref.name}`;
}
