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
import { isBinaryView, readView, writeView } from './viewSnapshot.js';
import type { ClusterState, DnsView, ServiceOverlay, ServiceRecords, ViewDelta, ViewRecord } from './view.js';


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

// A snapshot is the view in format 2 (viewSnapshot.ts), gzipped: every
// frontend downloads it when it starts, and decoding it is most of a cold
// start. Compressed off the event loop; the view is serialised before this
// returns, so it may change meanwhile.
export async function encodeSnapshot(view: DnsView): Promise<Buffer> {
  return gzip(writeView(view), { level: SNAPSHOT_GZIP_LEVEL });
}

// The view, or an Error saying why these bytes are none. Format 1, gzipped
// JSON, is what aggregators wrote before format 2.
export async function decodeSnapshot(data: Uint8Array): Promise<DnsView> {
  const bytes = await gunzip(data).catch((err: Error) => {
    throw new Error(`the view snapshot does not gunzip: ${err.message}`);
  });
  if (isBinaryView(bytes)) return readView(bytes);
  const view = parseView(bytes.toString('utf8'));
  if (!view) throw new Error('the view snapshot is neither format 2 nor a format 1 (JSON) view');
  return view;
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

function isViewDelta(v: unknown): v is ViewDelta {
  if (!isObject(v) || !isSequence(v.from) || !isSequence(v.to) || v.to < v.from) return false;
  // A delta to the same version carries a new cluster list and nothing else.
  if (v.to === v.from && v.clusters === undefined) return false;
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
