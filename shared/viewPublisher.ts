// Runs in the aggregator process: publishes the view it is fed to NATS, as
// ordered deltas in a JetStream stream, a full snapshot in an object store
// bucket now and then, and a heartbeat. The feed callbacks only queue work;
// one loop publishes it in order and retries while NATS is away.
import { DiscardPolicy, jetstream, jetstreamManager, JetStreamApiCodes, JetStreamApiError, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import type { JetStreamClient, JetStreamManager, StreamInfo } from '@nats-io/jetstream';
import { Objm, type ObjectInfo, type ObjectStore } from '@nats-io/obj';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from './logger.js';
import { applyDelta, mergeDeltas, type DnsView, type ViewDelta, type ViewFeed } from './view.js';
import {
  DELTA_MAX_AGE_MS,
  deltaMessages,
  deltaMsgId,
  encodeSnapshot,
  onConnectionChange,
  SNAPSHOT_OBJECT,
  snapshotMetadata,
  viewDistribution,
  type ViewDistribution,
  type ViewDistributionOptions,
  REQUEST_TIMEOUT_MS,
  VIEW_RETRY,
} from './viewWire.js';
import { backoffDelay } from './backoff.js';

const DUPLICATE_WINDOW_MS = 2 * 60 * 1000;
const PENDING_SNAPSHOTS = 4; // queued deltas, in snapshotEvery, before a snapshot replaces them
const MERGED_DELTA_CHANGES = 1000; // queued deltas merge into one up to this many services changed
const PAYLOAD_HEADROOM = 1024; // NATS headers and the JetStream message id

// What a frontend applies at once: upserted and removed services and overlay entries.
function changeCount(delta: ViewDelta): number {
  let n = Object.keys(delta.services.upsert).length + delta.services.remove.length;
  for (const change of Object.values(delta.views ?? {})) n += Object.keys(change.upsert).length + change.remove.length;
  return n;
}

// The message that publishes the first `count` queued deltas as one.
interface DeltaMessage {
  first: ViewDelta;
  count: number;
  delta: ViewDelta;
  messages: Uint8Array[]; // the delta, or its parts when it is too big for one NATS message
}

export class NatsViewPublisher {
  private view: DnsView | undefined; // the newest view the feed gave us
  private pending: ViewDelta[] = []; // not yet in the stream, in order
  private attempt: DeltaMessage | undefined; // retried as it is, so that a stored one is deduplicated
  private snapshotting: Promise<void> | undefined; // a snapshot being published, beside the deltas
  // After deltas were dropped, the next ones would not follow on from anything
  // in the stream: they wait for a snapshot of at least this version.
  private deltasHeldUntil: number | undefined;
  // Version of the newest snapshot taken: no merged delta spans it, since its
  // followers skip only the deltas it wholly contains.
  private snapshotVersion: number | undefined;
  private snapshotFailure: unknown; // why the last snapshot failed, for the loop to back off
  private snapshotDue = false;
  private deltasSinceSnapshot = 0;
  private snapshotTimer: NodeJS.Timeout | undefined;
  private publishedVersion: number | undefined; // newest version followers can reach, announced by heartbeats
  private readonly heartbeat: NodeJS.Timeout;
  private readonly unsubscribe: () => void;
  private readonly publishing: Promise<void>;
  private wake: (() => void) | undefined; // ends the wait for work
  private connected = true;
  private failures = 0; // publishing attempts failed in a row
  private readonly stopWatching: () => void;
  private readonly stopping = new AbortController();

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private store: ObjectStore,
    private readonly dist: ViewDistribution,
    private readonly logger: Logger,
    private lastDeltaSeq: number, // stream sequence of the newest delta known to be stored
    feed: ViewFeed,
  ) {
    this.unsubscribe = feed.subscribe({ snapshot: (view) => this.onSnapshot(view), delta: (delta) => this.onDelta(delta) });
    this.heartbeat = setInterval(() => this.sendHeartbeat(), dist.heartbeatMs);
    this.stopWatching = onConnectionChange(nc, { disconnect: () => (this.connected = false), reconnect: () => this.onReconnect() });
    this.publishing = this.publishLoop();
  }

  // Creates the delta stream and the snapshot bucket when missing; fails when NATS refuses.
  static async start(nc: NatsConnection, feed: ViewFeed, opts: ViewDistributionOptions, logger: Logger): Promise<NatsViewPublisher> {
    const dist = viewDistribution(opts);
    const js = jetstream(nc, { timeout: REQUEST_TIMEOUT_MS, checkAPI: false });
    const jsm = await jetstreamManager(nc, { timeout: REQUEST_TIMEOUT_MS, checkAPI: false });
    try {
      const { stream, store } = await ensureStorage(js, jsm, dist);
      return new NatsViewPublisher(nc, js, jsm, store, dist, logger, stream.state.last_seq, feed);
    } catch (err) {
      throw new Error(`setting up view distribution (stream ${dist.deltaStream}, bucket ${dist.snapshotBucket}) failed: ${errorText(err)}`, { cause: err });
    }
  }

  // Stops publishing; what is still queued is dropped (the next aggregator publishes a snapshot on start).
  async stop(): Promise<void> {
    if (this.stopping.signal.aborted) return;
    this.stopping.abort();
    this.unsubscribe();
    this.stopWatching();
    clearInterval(this.heartbeat);
    clearTimeout(this.snapshotTimer);
    this.wake?.();
    await this.publishing;
    await this.snapshotting;
  }

  private onSnapshot(view: DnsView): void {
    this.view = view;
    this.pending = []; // contained in the snapshot; followers resync from it
    this.snapshotDue = true;
    this.deltasHeldUntil = view.version;
    this.wake?.();
  }

  private onDelta(delta: ViewDelta): void {
    if (!this.view || !applyDelta(this.view, delta)) {
      this.logger.error({ from: delta.from, to: delta.to, version: this.view?.version }, 'view delta does not follow the view; not published');
      return;
    }
    this.pending.push(delta);
    this.deltasSinceSnapshot++;
    // Past this many queued deltas (NATS away, or far too slow for merged
    // deltas to catch up), a snapshot is what followers would rather load anyway.
    if (this.pending.length > PENDING_SNAPSHOTS * this.dist.snapshotEvery) {
      this.logger.warn({ dropped: this.pending.length, version: delta.to }, 'view deltas piled up unpublished; publishing a snapshot instead');
      this.pending = [];
      this.snapshotDue = true;
      this.deltasHeldUntil = delta.to;
    }
    if (this.deltasSinceSnapshot >= this.dist.snapshotEvery) this.snapshotDue = true;
    if (!this.snapshotDue) this.snapshotTimer ??= setTimeout(() => this.snapshotDueByTime(), this.dist.snapshotIntervalMs);
    this.wake?.();
  }

  private snapshotDueByTime(): void {
    this.snapshotTimer = undefined;
    this.snapshotDue = true;
    this.wake?.();
  }

  private onReconnect(): void {
    this.connected = true;
    this.failures = 0; // what failed was NATS being away
    this.wake?.();
  }

  // Deltas go out while a snapshot uploads: a snapshot takes many round trips,
  // and followers should not wait for it.
  private async publishLoop(): Promise<void> {
    while (!this.stopping.signal.aborted) {
      const delta = this.deltasHeldUntil === undefined ? this.pending[0] : undefined;
      const snapshotFailure = this.snapshotFailure;
      if (!this.connected || (!(this.snapshotDue && !this.snapshotting) && !delta && snapshotFailure === undefined)) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
        continue;
      }
      try {
        this.snapshotFailure = undefined;
        if (snapshotFailure !== undefined) throw snapshotFailure;
        if (this.failures > 0) this.store = (await ensureStorage(this.js, this.jsm, this.dist)).store;
        if (this.snapshotDue && !this.snapshotting) this.startSnapshot();
        if (delta) await this.publishDeltas();
        this.failures = 0;
      } catch (err) {
        if (this.stopping.signal.aborted) return;
        if (this.nc.isClosed()) {
          this.logger.warn('the NATS connection is closed; no longer publishing the view');
          return;
        }
        this.failures++;
        const retryMs = backoffDelay(this.failures - 1, VIEW_RETRY);
        this.logger.warn({ err, pending: this.pending.length, retryMs }, 'publishing the view failed; retrying');
        await sleep(retryMs, undefined, { signal: this.stopping.signal }).catch(() => undefined);
      }
    }
  }

  // Publishes the queued deltas from the first on, as many as merge into one message.
  private async publishDeltas(): Promise<void> {
    if (this.attempt?.first !== this.pending[0]) this.attempt = this.nextMessage();
    const message = this.attempt;
    if (!message) return;
    const id = deltaMsgId(message.delta);
    for (const [index, data] of message.messages.entries()) {
      const msgID = message.messages.length === 1 ? id : `${id}-part-${index}`;
      const ack = await this.js.publish(this.dist.deltaSubject, data, { msgID, timeout: REQUEST_TIMEOUT_MS });
      this.lastDeltaSeq = Math.max(this.lastDeltaSeq, ack.seq);
    }
    if (this.pending[0] === message.first) this.pending.splice(0, message.count); // unless a snapshot replaced the queue meanwhile
    this.attempt = undefined;
    this.published(message.delta.to);
  }

  // Merges queued deltas while they merge and stay small. A delta with one
  // service too big for a NATS message turns into a snapshot (undefined).
  private nextMessage(): DeltaMessage | undefined {
    const first = this.pending[0]!;
    const maxPayload = (this.nc.info?.max_payload ?? Infinity) - PAYLOAD_HEADROOM;
    // How many follow on and fit: a merged delta has no more changes than its parts.
    let count = 1;
    for (let changes = changeCount(first); count < this.pending.length; count++) {
      changes += changeCount(this.pending[count]!);
      const last = this.pending[count - 1]!;
      if (last.clusters || last.to === this.snapshotVersion || changes > MERGED_DELTA_CHANGES) break;
    }
    const delta = count === 1 ? first : mergeDeltas(this.pending.slice(0, count))!;
    const messages = deltaMessages(delta, maxPayload);
    if (messages) return { first, count, delta, messages };
    this.logger.warn({ from: delta.from, to: delta.to, maxPayload }, 'view delta with a service over the NATS max_payload; publishing a snapshot instead');
    this.pending = [];
    this.snapshotDue = true;
    this.deltasHeldUntil = this.view!.version;
    return undefined;
  }

  private startSnapshot(): void {
    const done = (failure?: unknown): void => {
      this.snapshotting = undefined;
      if (failure !== undefined) this.snapshotFailure = failure;
      this.wake?.();
    };
    this.snapshotting = this.publishSnapshot().then(() => done(), (err: unknown) => done(err ?? new Error('publishing the snapshot failed')));
  }

  // The snapshot is the newest view, even ahead of queued deltas: followers
  // start after lastDeltaSeq and skip the deltas it already contains.
  private async publishSnapshot(): Promise<void> {
    const view = this.view;
    if (!view) return;
    const position = { version: view.version, deltaSeq: this.lastDeltaSeq };
    this.snapshotVersion = view.version;
    this.snapshotDue = false;
    this.deltasSinceSnapshot = 0;
    clearTimeout(this.snapshotTimer);
    this.snapshotTimer = undefined;
    try {
      const data = await encodeSnapshot(view);
      const info = await this.store.putBlob({ name: SNAPSHOT_OBJECT, metadata: snapshotMetadata(position) }, data, { timeout: REQUEST_TIMEOUT_MS });
      await this.purgeOtherChunks(info);
      this.logger.debug({ ...position, bytes: data.length }, 'view snapshot published');
    } catch (err) {
      this.snapshotDue = true;
      throw err;
    }
    // Followers need this snapshot only when deltas were dropped: then heartbeats
    // announce it, and those left behind load it. Otherwise they follow the
    // deltas, which reach its version soon, instead of loading the whole view.
    if (this.deltasHeldUntil !== undefined && position.version >= this.deltasHeldUntil) {
      this.deltasHeldUntil = undefined;
      this.published(position.version);
    }
  }

  // Replacing an object purges its previous chunks, but a put cut short by a
  // crash leaves chunks no object refers to. As the bucket's only writer, the
  // newest chunks are the new object's; this drops all others.
  private async purgeOtherChunks(info: ObjectInfo): Promise<void> {
    await this.jsm.streams.purge(`OBJ_${this.dist.snapshotBucket}`, { filter: `$O.${this.dist.snapshotBucket}.C.>`, keep: info.chunks });
  }

  private published(version: number): void {
    this.publishedVersion = Math.max(this.publishedVersion ?? version, version);
  }

  private sendHeartbeat(): void {
    if (this.publishedVersion === undefined || !this.connected || this.nc.isClosed()) return;
    this.nc.publish(this.dist.heartbeatSubject, JSON.stringify({ version: this.publishedVersion, time: Date.now() }));
  }
}

async function ensureStorage(js: JetStreamClient, jsm: JetStreamManager, dist: ViewDistribution): Promise<{ stream: StreamInfo; store: ObjectStore }> {
  const stream = await ensureDeltaStream(jsm, dist);
  const store = await new Objm(js).create(dist.snapshotBucket, { storage: StorageType.File, replicas: dist.replicas });
  return { stream, store };
}

// An existing stream is used as it is: its limits are the operator's to change.
async function ensureDeltaStream(jsm: JetStreamManager, dist: ViewDistribution): Promise<StreamInfo> {
  try {
    return await jsm.streams.info(dist.deltaStream);
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
  }
  return jsm.streams.add({
    name: dist.deltaStream,
    subjects: [dist.deltaSubject],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_age: nanos(DELTA_MAX_AGE_MS),
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
    num_replicas: dist.replicas,
  });
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
