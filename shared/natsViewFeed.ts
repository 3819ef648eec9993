// Runs in each frontend process: follows the view the aggregator publishes to
// NATS, with read-only access. Loads the newest snapshot, then applies the
// delta stream from the position the snapshot records. A gap, a garbled
// delta or lagging behind the heartbeats sends it back to the snapshot;
// listeners only ever see whole views and deltas that follow on. The feed
// keeps no view, only versions: a listener builds its own from the snapshot
// as it is read (ViewListener.snapshotBuilder), and one that subscribes
// late makes the feed load the snapshot again.
import { jetstream, type ConsumerMessages, type JetStreamClient, type JsMsg } from '@nats-io/jetstream';
import { Objm, setSha256Backend, type ObjectStore } from '@nats-io/obj';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from './logger.js';
import type { ViewDelta, ViewFeed, ViewListener } from './view.js';
import { dnsViewBuilder, type ViewBuilder } from './viewBuilder.js';
import { MalformedView } from './viewSnapshot.js';
import {
  onConnectionChange,
  openSnapshot,
  joinShares,
  parseDeltaMessage,
  parseHeartbeat,
  parseSnapshotMetadata,
  SNAPSHOT_OBJECT,
  viewDistribution,
  type DeltaPart,
  type SnapshotPosition,
  type ViewDistribution,
  type ViewDistributionOptions,
  REQUEST_TIMEOUT_MS,
  VIEW_RETRY,
} from './viewWire.js';
import { backoffDelay } from './backoff.js';

// The snapshot's digest is checked with node:crypto, not the object store's
// pure-JS default, which took a cold start 30 ms (process-wide, and idempotent).
setSha256Backend('native');

const OUT_OF_STEP_MS = 3000; // at least; heartbeats announcing another version this long with no delta → snapshot
const SNAPSHOT_CHECK_MS = 1000; // least time between snapshot checks once there is a view
const SNAPSHOT_IDLE_MS = 5000; // a snapshot read stalled this long is given up (a newer one may have replaced its chunks)
const WATCH_MS = 500;

type Reload = { acceptOlder: boolean };

export class NatsViewFeed implements ViewFeed {
  private position: number | undefined; // the version the stream was followed to
  private readonly listeners = new Map<ViewListener, number | undefined>(); // → the version each was given
  private readonly js: JetStreamClient;
  private store: ObjectStore | undefined;
  private nextSeq = 1; // delta stream sequence to follow on from
  private lastHeardAt: number | undefined;
  private heardVersion: number | undefined;
  private outOfStepSince: number | undefined; // heartbeats announce a version other than ours since
  private readonly outOfStepMs: number;
  private lastCheckAt = -Infinity;
  private reload: Reload | undefined; // a snapshot check is wanted
  private following: ConsumerMessages | undefined;
  private refollow = false; // a new consumer is wanted
  private parts: DeltaPart[] = []; // of a delta arriving in parts, so far
  private readonly stopWatching: () => void;
  private readonly stopping = new AbortController();
  private readonly heartbeats: Subscription;
  private readonly watch: NodeJS.Timeout;
  private readonly running: Promise<void>;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly dist: ViewDistribution,
    private readonly logger: Logger,
  ) {
    this.js = jetstream(nc, { timeout: REQUEST_TIMEOUT_MS, checkAPI: false });
    this.outOfStepMs = Math.max(OUT_OF_STEP_MS, 3 * dist.heartbeatMs);
    this.heartbeats = nc.subscribe(dist.heartbeatSubject, {
      callback: (err, msg) => {
        if (!err) this.onHeartbeat(msg.string());
      },
    });
    this.watch = setInterval(() => this.checkInStep(), WATCH_MS);
    this.stopWatching = onConnectionChange(nc, { reconnect: () => this.onReconnect() });
    this.running = this.run();
  }

  // Returns at once; the view loads in the background.
  static async start(nc: NatsConnection, opts: ViewDistributionOptions, logger: Logger): Promise<NatsViewFeed> {
    return new NatsViewFeed(nc, viewDistribution(opts), logger);
  }

  // Version of the view delivered to listeners.
  get version(): number | undefined {
    return this.position;
  }

  // Since the feed last heard from the aggregator (heartbeat or delta).
  get stalenessMs(): number | undefined {
    return this.lastHeardAt === undefined ? undefined : Date.now() - this.lastHeardAt;
  }

  // The newest version announced by heartbeats.
  get aggregatorVersion(): number | undefined {
    return this.heardVersion;
  }

  subscribe(listener: ViewListener): () => void {
    this.listeners.set(listener, undefined);
    if (this.position !== undefined) {
      this.reload ??= { acceptOlder: false };
      this.following?.stop();
    }
    return () => this.listeners.delete(listener);
  }

  async stop(): Promise<void> {
    if (this.stopping.signal.aborted) return;
    this.stopping.abort();
    clearInterval(this.watch);
    this.stopWatching();
    this.heartbeats.unsubscribe();
    this.following?.stop();
    await this.running;
    this.listeners.clear();
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopping.signal.aborted) {
      try {
        if (this.position === undefined || this.reload) await this.checkSnapshot(this.reload ?? { acceptOlder: false });
        if (this.position !== undefined) {
          await this.follow();
          failures = 0;
          continue;
        }
        this.logger.info('no view snapshot published yet; waiting for the aggregator');
      } catch (err) {
        if (this.stopping.signal.aborted) return;
        if (this.nc.isClosed()) {
          this.logger.warn('the NATS connection is closed; the view stays as it is');
          return;
        }
        this.reload = undefined; // with a view, the next gap or heartbeat asks again
        if (err instanceof RejectedSnapshot) this.logger.error({ reason: err.message, version: this.position }, 'view snapshot rejected; keeping the view, if any');
        else this.logger.warn({ err, version: this.position }, 'following the view failed; retrying');
      }
      failures++;
      await sleep(backoffDelay(failures - 1, VIEW_RETRY), undefined, { signal: this.stopping.signal }).catch(() => undefined);
    }
  }

  // Loads the newest snapshot when it is newer than our view (or, after the
  // aggregator's history was reset, different from it).
  private async checkSnapshot(reload: Reload): Promise<void> {
    const waitMs = this.lastCheckAt + SNAPSHOT_CHECK_MS - Date.now();
    if (this.position !== undefined && waitMs > 0) await sleep(waitMs, undefined, { signal: this.stopping.signal });
    this.lastCheckAt = Date.now();
    this.store ??= await new Objm(this.js).open(this.dist.snapshotBucket, false);
    const info = await this.store.info(SNAPSHOT_OBJECT);
    const position = info && !info.deleted ? parseSnapshotMetadata(info.metadata) : undefined;
    if (position && this.wants(position, reload)) {
      const started = Date.now();
      const snapshot = await readSnapshot(this.store, this.stopping.signal);
      if (this.wants(snapshot.position, reload)) this.adopt(snapshot, reload, started);
    }
    this.reload = undefined;
  }

  // A listener that subscribed late takes any snapshot: its subscription
  // asked for this load (if it fails, the next check of the snapshot serves it).
  private wants(position: SnapshotPosition, reload: Reload): boolean {
    const ours = this.position;
    const waiting = [...this.listeners.values()].includes(undefined);
    return ours === undefined || waiting || position.version > ours || (reload.acceptOlder && position.version !== ours);
  }

  // Gives the snapshot to every listener behind it (to all when the
  // aggregator started over); those ahead of it, when a late subscriber
  // asked for it, skip the deltas they hold as the stream is followed on.
  private adopt(snapshot: Snapshot, reload: Reload, startedAt: number): void {
    const { version, deltaSeq } = snapshot.position;
    const behind = [...this.listeners].filter(([, given]) => given === undefined || given < version || reload.acceptOlder).map(([listener]) => listener);
    this.deliver(snapshot, behind);
    this.position = version;
    this.nextSeq = deltaSeq + 1;
    this.parts = [];
    this.outOfStepSince = undefined;
    this.logger.info({ version, deltaSeq, bytes: snapshot.bytes, loadMs: Date.now() - startedAt }, 'view snapshot loaded');
  }

  // One read of the snapshot per listener, into what it builds (a builder
  // is done only with a whole view). The first read that gets through checks
  // the bytes: a snapshot that is no view reaches no listener.
  private deliver(snapshot: Snapshot, listeners: ViewListener[]): void {
    let checked = false;
    for (const listener of listeners) {
      try {
        snapshot.read(listener.snapshotBuilder?.() ?? dnsViewBuilder((view) => listener.snapshot(view)));
        checked = true;
      } catch (err) {
        if (err instanceof RejectedSnapshot) throw err;
        this.logger.error({ err }, 'a view listener failed'); // its own problem: it gets the deltas that follow all the same
      }
    }
    if (!checked) snapshot.read(IGNORED);
    for (const listener of listeners) if (this.listeners.has(listener)) this.listeners.set(listener, snapshot.position.version);
  }

  // The server may have restarted and lost our consumer; the client would
  // find out only after its heartbeats went missing.
  private onReconnect(): void {
    this.refollow = true;
    this.following?.stop();
  }

  // Applies deltas until a snapshot check or a new consumer is wanted, or the feed stops.
  private async follow(): Promise<void> {
    this.refollow = false;
    const consumer = await this.js.consumers.get(this.dist.deltaStream, { filter_subjects: this.dist.deltaSubject, opt_start_seq: this.nextSeq });
    const messages = await consumer.consume();
    this.following = messages;
    try {
      const done = () => this.reload !== undefined || this.refollow || this.stopping.signal.aborted;
      if (done()) return;
      for await (const msg of messages) {
        this.lastHeardAt = Date.now();
        this.nextSeq = msg.seq + 1;
        if (!this.onDelta(msg)) this.reload = { acceptOlder: false };
        if (done()) return;
      }
      if (!done()) throw new Error('the view delta consumer stopped');
    } finally {
      this.following = undefined;
      messages.stop();
      await consumer.delete().catch(() => undefined);
    }
  }

  // False when the message cannot follow on from our version: a snapshot may be needed.
  private onDelta(msg: JsMsg): boolean {
    const version = this.position!;
    const message = parseDeltaMessage(msg.data);
    if (!message) {
      this.logger.warn({ seq: msg.seq, version }, 'view delta does not parse; skipping it, checking the snapshot');
      return false;
    }
    const delta = 'part' in message ? this.gather(message) : message;
    if (delta === 'none') return true;
    if (delta === 'orphan') {
      this.logger.warn({ seq: msg.seq, version }, 'a part of a view delta without the parts before it; checking the snapshot');
      return false;
    }
    this.parts = [];
    // Already followed; a delta to our own version (only the cluster list) still applies.
    if (delta.to < version || (delta.to === version && delta.from !== delta.to)) return true;
    if (delta.from !== version) {
      this.logger.warn({ seq: msg.seq, from: delta.from, to: delta.to, version }, 'gap in the view deltas; checking the snapshot');
      return false;
    }
    this.position = delta.to;
    this.outOfStepSince = undefined;
    // Each listener gets the deltas that follow on from its view; one given a newer snapshot waits for them.
    for (const [listener, given] of [...this.listeners]) {
      if (given !== delta.from) continue;
      this.listeners.set(listener, delta.to);
      this.notify(() => listener.delta(delta));
    }
    return true;
  }

  // Collects the parts of a delta in order: the delta once the last arrived.
  // A part that follows no earlier part of its delta is an orphan, unless it
  // belongs to a delta our view already holds (a snapshot taken amid its parts).
  private gather(message: DeltaPart): ViewDelta | 'none' | 'orphan' {
    const { index, count, from, to } = message.part;
    const before = this.parts[this.parts.length - 1]?.part;
    if (index === 0) this.parts = [message];
    else if (before && before.from === from && before.to === to && before.count === count && before.index === index - 1) this.parts.push(message);
    else {
      this.parts = [];
      return to <= this.position! ? 'none' : 'orphan';
    }
    return index === count - 1 ? joinShares(this.parts.map((p) => p.share))! : 'none';
  }

  private onHeartbeat(text: string): void {
    const heartbeat = parseHeartbeat(text);
    if (!heartbeat) return;
    this.lastHeardAt = Date.now();
    this.heardVersion = heartbeat.version;
    if (heartbeat.version === this.position) this.outOfStepSince = undefined;
  }

  // Heartbeats announcing another version for a while with no delta to get
  // there: deltas were lost, or (announced older) the aggregator started over.
  private checkInStep(): void {
    const ours = this.position;
    const heard = this.heardVersion;
    if (ours === undefined || heard === undefined || heard === ours) return;
    const now = Date.now();
    this.outOfStepSince ??= now;
    if (now - this.outOfStepSince < this.outOfStepMs) return;
    this.outOfStepSince = now;
    this.logger.warn({ version: ours, aggregatorVersion: heard }, 'out of step with the aggregator; checking the snapshot');
    this.reload = { acceptOlder: heard < ours };
    this.following?.stop();
  }

  // A failing listener is its own problem; the others still get the view.
  private notify(send: () => void): void {
    try {
      send();
    } catch (err) {
      this.logger.error({ err }, 'a view listener failed');
    }
  }
}

// A snapshot as downloaded: `read` reads its view into a builder, each time
// it is called, throwing a RejectedSnapshot when the bytes are none.
interface Snapshot {
  position: SnapshotPosition;
  bytes: number;
  read: (builder: ViewBuilder) => void;
}

async function readSnapshot(store: ObjectStore, signal: AbortSignal): Promise<Snapshot> {
  const result = await store.get(SNAPSHOT_OBJECT);
  if (!result) throw new Error('the view snapshot disappeared');
  const reader = result.data.getReader();
  const chunks: Uint8Array[] = [];
  try {
    for (;;) {
      const { done, value } = await within(reader.read(), SNAPSHOT_IDLE_MS, signal);
      if (done) break;
      chunks.push(value);
    }
  } catch (err) {
    reader.cancel().catch(() => undefined);
    throw err;
  }
  const failed = await result.error;
  if (failed) throw failed;
  const data = Buffer.concat(chunks);
  const rejected = (why: string) => new RejectedSnapshot(`revision ${result.info.revision}: ${why}`);
  const position = parseSnapshotMetadata(result.info.metadata);
  if (!position) throw rejected('its metadata holds no version and delta sequence');
  const opened = await openSnapshot(data).catch((err: Error) => {
    throw rejected(err.message);
  });
  if (opened.version !== position.version) throw rejected(`it holds version ${opened.version}, its metadata says ${position.version}`);
  const read = (builder: ViewBuilder): void => {
    try {
      opened.read(builder);
    } catch (err) {
      throw err instanceof MalformedView ? rejected(err.message) : err;
    }
  };
  return { position, bytes: data.length, read };
}

// What reads a snapshot only to check it.
const IGNORED: ViewBuilder = { head: () => undefined, service: () => undefined, overlay: () => undefined, done: () => undefined };

// The snapshot was read but is no view this frontend can use.
class RejectedSnapshot extends Error {}

// The read, unless it takes longer than idleMs or the feed stops first.
function within<T>(read: Promise<T>, idleMs: number, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted();
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const given = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the view snapshot read stalled for ${idleMs} ms`)), idleMs);
    onAbort = () => reject(new Error('stopped'));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  return Promise.race([read, given]).finally(() => {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort!);
  });
}
