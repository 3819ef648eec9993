// What the view publisher (aggregator process) and the NATS view feed
// (frontend processes) agree on: options, the subject, stream and bucket
// names derived from one prefix, and the wire formats, checked on the way in
// because a frontend must never apply something that only looks like a delta.
import { createHash } from 'node:crypto';
import type { BackoffOptions } from './backoff.js';
import type { NatsConnection } from '@nats-io/transport-node';
import { promisify } from 'node:util';
import { gunzip as gunzipCallback, gzip as gzipCallback } from 'node:zlib';
import { isClusterId } from './events.js';
import { buildFrom, viewOf, type ViewBuilder } from './viewBuilder.js';
import { isBinaryView, readView, readViewHead, readViewInto, writeView } from './viewSnapshot.js';
import { mergeDeltas, nameRecord, type ClusterState, type DnsView, type ServiceOverlay, type ServiceRecords, type ViewDelta, type ViewRecord } from './view.js';


// Requests and retries of the view publisher and the view feed alike.
export const REQUEST_TIMEOUT_MS = 5000;
export const VIEW_RETRY: BackoffOptions = { initialMs: 250, maxMs: 5000 };

export interface ViewDistributionOptions {
  prefix?: string; // default 'mcsdns'; subjects '<prefix>.view.delta', '<prefix>.view.heartbeat'; streams/buckets named from it
  snapshotEvery?: number; // publish a full snapshot every N deltas (default 10,000)
  snapshotIntervalMs?: number; // … or at most this long after a change (default 30000)
  heartbeatMs?: number; // default 1000
  replicas?: number; // default 1
}

export interface ViewDistribution {
  deltaSubject: string;
  heartbeatSubject: string;
  deltaStream: string;
  snapshotBucket: string;
  snapshotEvery: number;
  snapshotIntervalMs: number;
  heartbeatMs: number;
  replicas: number;
}

export const SNAPSHOT_OBJECT = 'view';
// Deltas must outlive several snapshot intervals, so a frontend can always
// follow on from the newest snapshot.
export const DELTA_MAX_AGE_MS = 60 * 60 * 1000;

const gzip = promisify(gzipCallback);
const gunzip = promisify(gunzipCallback);
// A quarter smaller than level 1 for some 50 ms more, off the event loop; inflating is no slower.
const SNAPSHOT_GZIP_LEVEL = 6;
const MIN_INFLATE_CHUNK = 64 * 1024;
const MAX_INFLATE_RATIO = 64; // snapshots inflate about tenfold

const PREFIX = /^[A-Za-z0-9_-]+$/; // one subject token that is also valid in stream and bucket names

export function viewDistribution(opts: ViewDistributionOptions = {}): ViewDistribution {
  const prefix = opts.prefix ?? 'mcsdns';
  if (!PREFIX.test(prefix)) throw new Error(`view prefix ${JSON.stringify(prefix)} must be letters, digits, '-' or '_'`);
  return {
    deltaSubject: `${prefix}.view.delta`,
    heartbeatSubject: `${prefix}.view.heartbeat`,
    deltaStream: `${prefix.toUpperCase()}_VIEW`,
    snapshotBucket: `${prefix}-snapshots`,
    snapshotEvery: positiveInteger('snapshotEvery', opts.snapshotEvery ?? 10_000),
    snapshotIntervalMs: positiveInteger('snapshotIntervalMs', opts.snapshotIntervalMs ?? 30_000),
    heartbeatMs: positiveInteger('heartbeatMs', opts.heartbeatMs ?? 1000),
    replicas: positiveInteger('replicas', opts.replicas ?? 1),
  };
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer, not ${value}`);
  return value;
}

// The deduplication id: a delta re-published after a lost acknowledgement is stored once.
// A delta from a version to the same one only changes the published cluster
// list (a sync timeout): its id names that list, so it is not taken for the
// delta that reached the version.
export function deltaMsgId(delta: ViewDelta): string {
  if (delta.from !== delta.to) return `delta-${delta.to}`;
  const clusters = (delta.clusters ?? []).map((c) => `${c.id}${c.synced ? '+' : '-'}`).join(',');
  return `delta-${delta.to}-clusters-${createHash('sha256').update(clusters).digest('hex').slice(0, 16)}`;
}

// Where a snapshot sits in the delta stream: every delta newer than `version`
// has a stream sequence above `deltaSeq`.
export interface SnapshotPosition {
  version: number;
  deltaSeq: number;
}

export function snapshotMetadata(p: SnapshotPosition): Record<string, string> {
  return { version: String(p.version), deltaSeq: String(p.deltaSeq) };
}

export function parseSnapshotMetadata(metadata: Record<string, string> | undefined): SnapshotPosition | undefined {
  const version = sequenceText(metadata?.version);
  const deltaSeq = sequenceText(metadata?.deltaSeq);
  return version === undefined || deltaSeq === undefined ? undefined : { version, deltaSeq };
}

function sequenceText(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

export interface Heartbeat {
  version: number; // the newest view version published to NATS
  time: number; // ms since the epoch, when sent
}

export function parseHeartbeat(text: string): Heartbeat | undefined {
  const v = parseJson(text);
  return isObject(v) && isSequence(v.version) && typeof v.time === 'number' ? { version: v.version, time: v.time } : undefined;
}

export function parseDelta(text: string): ViewDelta | undefined {
  const v = parseJson(text);
  return isViewDelta(v) ? v : undefined;
}

// Deltas in format 2: "MCSD", the format, a JSON head (after its length as
// 4 bytes) with what is small (versions, part, cluster list, namespaces,
// removals, observation times), then the upserted records as a view in the
// snapshot's format (viewSnapshot.ts): a quarter of their JSON, read in three
// quarters of the time. Aggregators sent format 1, a delta as JSON text,
// before; frontends read both, and one that predates format 2 takes such a
// message for garbage and checks the snapshot. A delta too big for one NATS
// message travels as consecutive parts, each holding a share of its changes,
// applied once all arrived.
const DELTA_MAGIC = Buffer.from('MCSD', 'latin1');
const DELTA_FORMAT = 2;
const HEAD_AT = DELTA_MAGIC.length + 1 + 4;

export interface DeltaPart {
  part: { from: number; to: number; index: number; count: number };
  share: ViewDelta; // from/to as the whole delta's
}

interface DeltaHead {
  from: number;
  to: number;
  part?: { index: number; count: number };
  clusters?: ClusterState[];
  namespaces?: { add: string[]; remove: string[] };
  remove: string[];
  views?: Record<string, string[]>; // per cluster, the overlay entries removed
  observedAt?: number[];
}

// A message of the delta stream: a whole delta or a part of one, in either format.
export function parseDeltaMessage(data: Uint8Array): ViewDelta | DeltaPart | undefined {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (!DELTA_MAGIC.equals(bytes.subarray(0, DELTA_MAGIC.length))) return parseDelta(bytes.toString('utf8'));
  if (bytes[DELTA_MAGIC.length] !== DELTA_FORMAT || bytes.length < HEAD_AT) return undefined;
  const bodyAt = HEAD_AT + bytes.readUInt32BE(HEAD_AT - 4);
  const head = parseJson(bytes.toString('utf8', HEAD_AT, bodyAt));
  if (!isDeltaHead(head)) return undefined;
  let body: DnsView;
  try {
    body = readView(bytes.subarray(bodyAt));
  } catch {
    return undefined;
  }
  if (body.version !== head.to) return undefined;
  const { from, to, part, clusters, namespaces, remove, views, observedAt } = head;
  const delta: ViewDelta = { from, to, services: { upsert: body.services, remove } };
  if (clusters) delta.clusters = clusters;
  if (namespaces) delta.namespaces = namespaces;
  const changed = new Set([...Object.keys(views ?? {}), ...Object.keys(body.views ?? {})]);
  if (changed.size > 0) {
    delta.views = Object.fromEntries([...changed].map((id) => [id, { upsert: body.views?.[id] ?? nameRecord(), remove: views?.[id] ?? [] }]));
  }
  if (observedAt) delta.observedAt = observedAt;
  return part ? { part: { from, to, index: part.index, count: part.count }, share: delta } : delta;
}

// Checked as a delta without upserts (the body's records are checked as read).
function isDeltaHead(v: unknown): v is DeltaHead {
  if (!isObject(v) || !isStringArray(v.remove)) return false;
  const part = v.part;
  if (part !== undefined && !(isObject(part) && isSequence(part.index) && isSequence(part.count) && part.index < part.count)) return false;
  if (v.views !== undefined && !isPerCluster(v.views, isStringArray)) return false;
  const views = v.views && Object.fromEntries(Object.entries(v.views).map(([id, remove]) => [id, { upsert: {}, remove }]));
  return isViewDelta({ ...v, services: { upsert: {}, remove: v.remove }, views }, { share: part !== undefined });
}

function encodeDelta(delta: ViewDelta, part?: DeltaHead['part']): Buffer {
  const { from, to, services, views, ...rest } = delta;
  const head: DeltaHead = { from, to, ...(part && { part }), remove: services.remove, ...rest };
  if (views) head.views = Object.fromEntries(Object.entries(views).map(([id, change]) => [id, change.remove]));
  const overlays = views && Object.fromEntries(Object.entries(views).map(([id, change]) => [id, change.upsert]));
  const headBytes = Buffer.from(JSON.stringify(head));
  const prefix = Buffer.alloc(HEAD_AT);
  DELTA_MAGIC.copy(prefix);
  prefix[DELTA_MAGIC.length] = DELTA_FORMAT;
  prefix.writeUInt32BE(headBytes.length, HEAD_AT - 4);
  const body = writeView({ version: to, clusters: [], namespaces: [], services: services.upsert, ...(overlays && { views: overlays }) });
  return Buffer.concat([prefix, headBytes, body]);
}

// The messages that publish `delta`: itself, or parts of at most maxBytes
// each; undefined when one service's records alone would not fit.
export function deltaMessages(delta: ViewDelta, maxBytes: number): Buffer[] | undefined {
  const whole = encodeDelta(delta);
  if (whole.length <= maxBytes) return [whole];
  const changes = changesOf(delta);
  // Shares of as many changes each; more of them while one is too big.
  for (let count = Math.ceil(whole.length / maxBytes) + 1; ; count = Math.min(2 * count, changes.length)) {
    const shares = shareOut(delta, changes, count);
    const parts = shares.map((share, index) => encodeDelta(share, { index, count: shares.length }));
    if (parts.every((p) => p.length <= maxBytes)) return parts;
    if (count >= changes.length) return undefined;
  }
}

type Change = (share: ViewDelta) => void;

// Each removal and upsert of a delta, as what puts it into a share.
function changesOf({ services, views }: ViewDelta): Change[] {
  const overlay = (share: ViewDelta, id: string) => ((share.views ??= {})[id] ??= { upsert: nameRecord(), remove: [] });
  return [
    ...services.remove.map((key): Change => (share) => void share.services.remove.push(key)),
    ...Object.entries(services.upsert).map(([key, records]): Change => (share) => void (share.services.upsert[key] = records)),
    ...Object.entries(views ?? {}).flatMap(([id, change]) => [
      ...change.remove.map((key): Change => (share) => void overlay(share, id).remove.push(key)),
      ...Object.entries(change.upsert).map(([key, records]): Change => (share) => void (overlay(share, id).upsert[key] = records)),
    ]),
  ];
}

// The changes dealt out in order into `count` shares. The cluster list,
// namespaces and observation times go with the last share, so that
// mergeDeltas joins the shares back into the delta.
function shareOut(delta: ViewDelta, changes: Change[], count: number): ViewDelta[] {
  const { from, to, services, views, ...last } = delta;
  const each = Math.max(1, Math.ceil(changes.length / count));
  const shares: ViewDelta[] = [];
  for (let first = 0; first < changes.length || shares.length === 0; first += each) {
    const share: ViewDelta = { from, to, services: { upsert: nameRecord(), remove: [] } };
    for (const put of changes.slice(first, first + each)) put(share);
    shares.push(share);
  }
  Object.assign(shares[shares.length - 1]!, last);
  return shares;
}

// The delta whose shares (in order) these are.
export function joinShares(shares: ViewDelta[]): ViewDelta | undefined {
  return mergeDeltas(shares.map((share, index) => (index === 0 ? share : { ...share, from: share.to })));
}

// A snapshot is the view in format 2 (viewSnapshot.ts), gzipped: every
// frontend downloads it when it starts, and decoding it is most of a cold
// start. Compressed off the event loop; the view is serialised before this
// returns, so it may change meanwhile.
export async function encodeSnapshot(view: DnsView): Promise<Buffer> {
  return gzip(writeView(view), { level: SNAPSHOT_GZIP_LEVEL });
}

// A snapshot's version, and a function that reads its view into a builder
// each time it is called; or an Error saying why these bytes are none.
// Format 2 is checked as it is read (readViewInto throws a MalformedView);
// format 1, gzipped JSON, is what aggregators wrote before format 2, checked here.
export async function openSnapshot(data: Uint8Array): Promise<{ version: number; read: (builder: ViewBuilder) => void }> {
  const bytes = await gunzip(data, { chunkSize: inflatedSize(data) }).catch((err: Error) => {
    throw new Error(`the view snapshot does not gunzip: ${err.message}`);
  });
  if (isBinaryView(bytes)) return { version: readViewHead(bytes).version, read: (builder) => readViewInto(bytes, builder) };
  const view = parseView(bytes.toString('utf8'));
  if (!view) throw new Error('the view snapshot is neither format 2 nor a format 1 (JSON) view');
  return { version: view.version, read: (builder) => buildFrom(view, builder) };
}

// Inflated into one buffer of the size the gzip trailer gives (a hint, capped):
// in 16 KB chunks, each cost a trip to the thread pool, and all a copy.
function inflatedSize(data: Uint8Array): number {
  const trailer = data.length >= 4 ? Buffer.from(data.buffer, data.byteOffset + data.length - 4, 4).readUInt32LE(0) : 0;
  return Math.max(MIN_INFLATE_CHUNK, Math.min(trailer, MAX_INFLATE_RATIO * data.length));
}

// The view, or an Error saying why these bytes are none.
export async function decodeSnapshot(data: Uint8Array): Promise<DnsView> {
  return viewOf((await openSnapshot(data)).read);
}

export function parseView(text: string): DnsView | undefined {
  const v = parseJson(text);
  return isDnsView(v) ? v : undefined;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function isDnsView(v: unknown): v is DnsView {
  return (
    isObject(v) &&
    isSequence(v.version) &&
    Array.isArray(v.clusters) &&
    v.clusters.every(isClusterState) &&
    isStringArray(v.namespaces) &&
    isServiceMap(v.services) &&
    (v.views === undefined || isPerCluster(v.views, isOverlay))
  );
}

// A share of a delta (see DeltaPart) may leave the cluster list to another share.
function isViewDelta(v: unknown, { share = false } = {}): v is ViewDelta {
  if (!isObject(v) || !isSequence(v.from) || !isSequence(v.to) || v.to < v.from) return false;
  // A delta to the same version carries a new cluster list and nothing else.
  if (v.to === v.from && v.clusters === undefined && !share) return false;
  if (v.clusters !== undefined && !(Array.isArray(v.clusters) && v.clusters.every(isClusterState))) return false;
  if (v.namespaces !== undefined && !(isObject(v.namespaces) && isStringArray(v.namespaces.add) && isStringArray(v.namespaces.remove))) {
    return false;
  }
  if (v.observedAt !== undefined && !(Array.isArray(v.observedAt) && v.observedAt.every((t) => typeof t === 'number'))) return false;
  if (v.views !== undefined && !isPerCluster(v.views, isOverlayChange)) return false;
  return isObject(v.services) && isServiceMap(v.services.upsert) && isStringArray(v.services.remove);
}

function isClusterState(v: unknown): v is ClusterState {
  return isObject(v) && typeof v.id === 'string' && typeof v.synced === 'boolean';
}

function isServiceMap(v: unknown): v is Record<string, ServiceRecords> {
  return isObject(v) && Object.values(v).every(isServiceRecords);
}

// Keyed by cluster id: anything else (say "__proto__") could never be one.
function isPerCluster<T>(v: unknown, isEntry: (e: unknown) => e is T): v is Record<string, T> {
  return isObject(v) && Object.entries(v).every(([id, e]) => isClusterId(id) && isEntry(e));
}

function isOverlayChange(v: unknown): v is { upsert: ServiceOverlay; remove: string[] } {
  return isObject(v) && isOverlay(v.upsert) && isStringArray(v.remove);
}

const SERVICE_KEY = /^[^/]+\/[^/]+$/; // "<ns>/<svc>"

function isOverlay(v: unknown): v is ServiceOverlay {
  return isObject(v) && Object.entries(v).every(([key, records]) => SERVICE_KEY.test(key) && (records === null || isServiceRecords(records)));
}

function isServiceRecords(v: unknown): v is ServiceRecords {
  return isObject(v) && isObject(v.names) && Object.values(v.names).every((list) => Array.isArray(list) && list.every(isViewRecord));
}

function isViewRecord(v: unknown): v is ViewRecord {
  if (!isObject(v)) return false;
  switch (v.type) {
    case 'A':
    case 'AAAA':
      return typeof v.address === 'string';
    case 'SRV':
      return typeof v.priority === 'number' && typeof v.weight === 'number' && typeof v.port === 'number' && typeof v.target === 'string';
    default:
      return false;
  }
}

function isSequence(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((s) => typeof s === 'string');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// Calls back when the connection drops and when it is back; returns the stop.
export function onConnectionChange(nc: NatsConnection, on: { disconnect?: () => void; reconnect?: () => void }): () => void {
  const status = nc.status();
  void (async () => {
    for await (const s of status) {
      if (s.type === 'disconnect') on.disconnect?.();
      else if (s.type === 'reconnect') on.reconnect?.();
    }
  })();
  // The client hands out a stoppable iterator; without stop() it ends when the connection closes.
  return () => (status as Partial<{ stop(): void }>).stop?.();
}
