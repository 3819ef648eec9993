// Change events: what an agent publishes and the aggregator projects.
// Schema version 1. Objects carry only the fields DNS needs.

export const EVENT_SCHEMA_VERSION = 1;

export const KINDS = ['ServiceImport', 'EndpointSlice', 'Namespace'] as const;
export type Kind = (typeof KINDS)[number];

export const SERVICE_NAME_LABEL = 'multicluster.kubernetes.io/service-name';
export const SOURCE_CLUSTER_LABEL = 'multicluster.kubernetes.io/source-cluster';

export interface ServicePort {
  name: string; // '' when unnamed
  protocol: 'TCP' | 'UDP' | 'SCTP';
  port: number;
}

export interface ServiceImportObject {
  type: 'ClusterSetIP' | 'Headless';
  ips: string[];
  ports: ServicePort[];
}

export interface Endpoint {
  addresses: string[];
  hostname?: string;
  ready: boolean; // condition ready true or absent
}

export interface EndpointSliceObject {
  serviceName: string; // label multicluster.kubernetes.io/service-name
  sourceCluster?: string; // label multicluster.kubernetes.io/source-cluster, when present
  addressType: 'IPv4' | 'IPv6' | 'FQDN';
  endpoints: Endpoint[];
  ports: ServicePort[];
}

// Namespaces carry no fields DNS needs beyond their existence.
export type NamespaceObject = Record<string, never>;

interface EventBase {
  v: typeof EVENT_SCHEMA_VERSION;
  cluster: string;
  kind: Kind;
  observedAt: string; // RFC 3339 with milliseconds, when the agent saw the change
  epoch: number; // the sync epoch of the informer run that saw it
}

export interface ObjectRef {
  namespace: string; // '' for cluster-scoped objects (Namespace)
  name: string;
  uid: string;
  resourceVersion: string;
}

export type UpsertEvent = EventBase &
  ObjectRef &
  (
    | { op: 'upsert'; kind: 'ServiceImport'; object: ServiceImportObject }
    | { op: 'upsert'; kind: 'EndpointSlice'; object: EndpointSliceObject }
    | { op: 'upsert'; kind: 'Namespace'; object: NamespaceObject }
  );

export type DeleteEvent = EventBase & ObjectRef & { op: 'delete' };

// A re-list is framed by sync-begin/sync-end of one epoch; on sync-end the
// aggregator drops the cluster's objects of that kind not stamped with it.
// `kinds` lists every kind the agent watches: a cluster counts as synced once
// each of them completed one sync.
export interface SyncEvent extends EventBase {
  op: 'sync-begin' | 'sync-end';
  kinds: Kind[];
}

export type ChangeEvent = UpsertEvent | DeleteEvent | SyncEvent;

// Idempotency id: the same observation always gets the same id, so a
// re-publish (a retry after a lost acknowledgement) is a no-op.
export function isSyncEvent(e: ChangeEvent): e is SyncEvent {
  return e.op === 'sync-begin' || e.op === 'sync-end';
}

export function eventId(e: ChangeEvent): string {
  if (isSyncEvent(e)) return `${e.cluster}/${e.kind}/${e.epoch}/${e.op}`;
  return `${e.cluster}/${e.kind}/${e.epoch}/${e.op}/${e.namespace}/${e.name}/${e.resourceVersion}`;
}

// The JSON text of a trimmed object, written once per object: the agent
// compares an object with what it published by this text, and the event that
// publishes the object reuses it. (Objects in events are never changed.)
const objectTexts = new WeakMap<object, string>();
export function objectJson(object: object): string {
  let text = objectTexts.get(object);
  if (text === undefined) {
    text = JSON.stringify(object);
    objectTexts.set(object, text);
  }
  return text;
}

// An event's JSON text; an upsert's object is written once (objectJson).
export function encodeEvent(e: ChangeEvent): string {
  if (e.op !== 'upsert') return JSON.stringify(e);
  const text = JSON.stringify;
  return (
    `{"v":${e.v},"cluster":${text(e.cluster)},"kind":${text(e.kind)},"observedAt":${text(e.observedAt)},"epoch":${e.epoch},` +
    `"namespace":${text(e.namespace)},"name":${text(e.name)},"uid":${text(e.uid)},"resourceVersion":${text(e.resourceVersion)},` +
    `"op":"upsert","object":${objectJson(e.object)}}`
  );
}

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
export function isDnsLabel(s: string): boolean {
  return LABEL.test(s);
}

// A cluster id is an RFC 1123 label: it becomes a DNS label and a NATS subject token.
export const isClusterId = isDnsLabel;

export class EventFormatError extends Error {}

function fail(msg: string): never {
  throw new EventFormatError(msg);
}
function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
function str(o: Record<string, unknown>, k: string, allowEmpty = false): string {
  const v = o[k];
  if (typeof v !== 'string' || (!allowEmpty && v === '')) fail(`field ${k} must be a ${allowEmpty ? '' : 'non-empty '}string`);
  return v;
}
function strArray(o: Record<string, unknown>, k: string): string[] {
  const v = o[k];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) fail(`field ${k} must be an array of strings`);
  return v as string[];
}
function isKind(x: unknown): x is Kind {
  return x === 'ServiceImport' || x === 'EndpointSlice' || x === 'Namespace';
}
function ports(o: Record<string, unknown>): ServicePort[] {
  const v = o.ports;
  if (!Array.isArray(v)) fail('field ports must be an array');
  return v.map((p): ServicePort => {
    if (!isObj(p)) fail('a port must be an object');
    const port = p.port;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) fail('port number out of range');
    const protocol = p.protocol;
    if (protocol !== 'TCP' && protocol !== 'UDP' && protocol !== 'SCTP') fail('port protocol must be TCP, UDP or SCTP');
    return { name: str(p, 'name', true), protocol, port };
  });
}

function serviceImportObject(o: unknown): ServiceImportObject {
  if (!isObj(o)) fail('object missing');
  if (o.type !== 'ClusterSetIP' && o.type !== 'Headless') fail('ServiceImport type must be ClusterSetIP or Headless');
  return { type: o.type, ips: strArray(o, 'ips'), ports: ports(o) };
}

function endpoint(e: unknown): Endpoint {
  if (!isObj(e)) fail('an endpoint must be an object');
  if (typeof e.ready !== 'boolean') fail('endpoint ready must be a boolean');
  const addresses = strArray(e, 'addresses');
  if (e.hostname === undefined) return { addresses, ready: e.ready };
  return { addresses, ready: e.ready, hostname: str(e, 'hostname') };
}

function endpointSliceObject(o: unknown): EndpointSliceObject {
  if (!isObj(o)) fail('object missing');
  const addressType = o.addressType;
  if (addressType !== 'IPv4' && addressType !== 'IPv6' && addressType !== 'FQDN') fail('bad addressType');
  if (!Array.isArray(o.endpoints)) fail('field endpoints must be an array');
  const endpoints = o.endpoints.map(endpoint);
  const serviceName = str(o, 'serviceName');
  const slicePorts = ports(o);
  if (o.sourceCluster === undefined) return { serviceName, addressType, endpoints, ports: slicePorts };
  return { serviceName, addressType, endpoints, ports: slicePorts, sourceCluster: str(o, 'sourceCluster') };
}

// Validates untrusted JSON into a ChangeEvent; throws EventFormatError with a
// one-line reason. The aggregator puts such events aside instead of stopping.
// Each object is built as one literal: spreads here cost more than all the checks.
export function parseEvent(raw: unknown): ChangeEvent {
  if (!isObj(raw)) fail('event must be a JSON object');
  if (raw.v !== EVENT_SCHEMA_VERSION) fail(`unsupported event schema version ${JSON.stringify(raw.v)}`);
  const cluster = str(raw, 'cluster');
  if (!isClusterId(cluster)) fail(`cluster id ${JSON.stringify(cluster)} is not an RFC 1123 label`);
  const kind = raw.kind;
  if (!isKind(kind)) fail(`unknown kind ${JSON.stringify(kind)}`);
  const observedAt = str(raw, 'observedAt');
  if (Number.isNaN(Date.parse(observedAt))) fail('observedAt is not a time');
  const epoch = raw.epoch;
  if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch < 0) fail('epoch must be a non-negative integer');
  const v = EVENT_SCHEMA_VERSION;
  const op = raw.op;
  if (op === 'sync-begin' || op === 'sync-end') {
    const kinds = strArray(raw, 'kinds');
    if (kinds.length === 0 || !kinds.every(isKind)) fail('kinds must list known kinds');
    return { v, cluster, kind, observedAt, epoch, op, kinds: kinds as Kind[] };
  }
  if (op !== 'upsert' && op !== 'delete') fail(`unknown op ${JSON.stringify(op)}`);
  const namespace = str(raw, 'namespace', kind === 'Namespace');
  const name = str(raw, 'name');
  const uid = str(raw, 'uid', true);
  const resourceVersion = str(raw, 'resourceVersion', true);
  if (kind === 'Namespace' && namespace !== '') fail('a Namespace event has no namespace');
  if (op === 'delete') return { v, cluster, kind, observedAt, epoch, namespace, name, uid, resourceVersion, op };
  switch (kind) {
    case 'ServiceImport':
      return { v, cluster, kind, observedAt, epoch, namespace, name, uid, resourceVersion, op, object: serviceImportObject(raw.object) };
    case 'EndpointSlice':
      return { v, cluster, kind, observedAt, epoch, namespace, name, uid, resourceVersion, op, object: endpointSliceObject(raw.object) };
    case 'Namespace':
      return { v, cluster, kind, observedAt, epoch, namespace, name, uid, resourceVersion, op, object: {} };
  }
}
