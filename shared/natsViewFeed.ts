// Runs in each frontend process: follows the view the aggregator publishes to
// NATS, with read-only access. Loads the newest snapshot, then applies the
// delta stream from the position the snapshot records. A gap, a garbled
// delta or lagging behind the heartbeats sends it back to the snapshot;
// listeners only ever see whole views and deltas that follow on.
import { jetstream, type ConsumerMessages, type JetStreamClient, type JsMsg } from '@nats-io/jetstream';
import { Objm, type ObjectStore } from '@nats-io/obj';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from './logger.js';
import { applyDelta, copyView, type DnsView, type ViewDelta, type ViewFeed, type ViewListener } from './view.js';
import {
  decodeSnapshot,
  onConnectionChange,
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

const OUT_OF_STEP_MS = 3000; // at least; heartbeats announcing another version this long with no delta → snapshot
const SNAPSHOT_CHECK_MS = 1000; // least time between snapshot checks once there is a view
const SNAPSHOT_IDLE_MS = 5000; // a snapshot read stalled this long is given up (a newer one may have replaced its chunks)
const WATCH_MS = 500;

type Reload = { acceptOlder: boolean };

export class NatsViewFeed implements ViewFeed {
  private view: DnsView | undefined;
  private readonly listeners = new Set<ViewListener>();
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
    return this.view?.version;
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
    this.listeners.add(listener);
    const view = this.view;
    if (view) this.notify(() => listener.snapshot(copyView(view)));
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
        if (!this.view || this.reload) await this.checkSnapshot(this.reload ?? { acceptOlder: false });
        if (this.view) {
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
        if (err instanceof RejectedSnapshot) this.logger.error({ reason: err.message, version: this.view?.version }, 'view snapshot rejected; keeping the view, if any');
        else this.logger.warn({ err, version: this.view?.version }, 'following the view failed; retrying');
      }
      failures++;
      await sleep(backoffDelay(failures - 1, VIEW_RETRY), undefined, { signal: this.stopping.signal }).catch(() => undefined);
    }
  }

  // Loads the newest snapshot when it is newer than our view (or, after the
  // aggregator's history was reset, different from it).
  private async checkSnapshot(reload: Reload): Promise<void> {
    const waitMs = this.lastCheckAt + SNAPSHOT_CHECK_MS - Date.now();
    if (this.view && waitMs > 0) await sleep(waitMs, undefined, { signal: this.stopping.signal });
    this.lastCheckAt = Date.now();
    this.store ??= await new Objm(this.js).open(this.dist.snapshotBucket, false);
    const info = await this.store.info(SNAPSHOT_OBJECT);
    const position = info && !info.deleted ? parseSnapshotMetadata(info.metadata) : undefined;
    if (position && this.wants(position, reload)) {
      const started = Date.now();
      const snapshot = await readSnapshot(this.store, this.stopping.signal);
      if (this.wants(snapshot.position, reload)) this.adopt(snapshot, Date.now() - started);
    }
    this.reload = undefined;
  }

  private wants(position: SnapshotPosition, reload: Reload): boolean {
    const ours = this.view?.version;
    return ours === undefined || position.version > ours || (reload.acceptOlder && position.version !== ours);
  }

  private adopt(snapshot: { view: DnsView; position: SnapshotPosition; bytes: number }, loadMs: number): void {
    this.view = snapshot.view;
    this.nextSeq = snapshot.position.deltaSeq + 1;
    this.parts = [];
    this.outOfStepSince = undefined;
    const { version, deltaSeq } = snapshot.position;
    this.logger.info({ version, deltaSeq, bytes: snapshot.bytes, loadMs }, 'view snapshot loaded');
    for (const listener of [...this.listeners]) this.notify(() => listener.snapshot(copyView(snapshot.view)));
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

  // False when the message cannot follow on from our view: a snapshot may be needed.
  private onDelta(msg: JsMsg): boolean {
    const view = this.view!;
    const message = parseDeltaMessage(msg.data);
    if (!message) {
      this.logger.warn({ seq: msg.seq, version: view.version }, 'view delta does not parse; skipping it, checking the snapshot');
      return false;
    }
    const delta = 'part' in message ? this.gather(message) : message;
    if (delta === 'none') return true;
    if (delta === 'orphan') {
      this.logger.warn({ seq: msg.seq, version: view.version }, 'a part of a view delta without the parts before it; checking the snapshot');
      return false;
    }
    this.parts = [];
    // Already in our view; a delta to our own version (only the cluster list) still applies.
    if (delta.to < view.version || (delta.to === view.version && delta.from !== delta.to)) return true;
    if (!applyDelta(view, delta)) {
      this.logger.warn({ seq: msg.seq, from: delta.from, to: delta.to, version: view.version }, 'gap in the view deltas; checking the snapshot');
      return false;
    }
    this.outOfStepSince = undefined;
    for (const listener of [...this.listeners]) this.notify(() => listener.delta(delta));
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
      return to <= this.view!.version ? 'none' : 'orphan';
    }
    return index === count - 1 ? joinShares(this.parts.map((p) => p.share))! : 'none';
  }

  private onHeartbeat(text: string): void {
    const heartbeat = parseHeartbeat(text);
    if (!heartbeat) return;
    this.lastHeardAt = Date.now();
    this.heardVersion = heartbeat.version;
    if (heartbeat.version === this.view?.version) this.outOfStepSince = undefined;
  }

  // Heartbeats announcing another version for a while with no delta to get
  // there: deltas were lost, or (announced older) the aggregator started over.
  private checkInStep(): void {
    const ours = this.view?.version;
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

async function readSnapshot(store: ObjectStore, signal: AbortSignal): Promise<{ view: DnsView; position: SnapshotPosition; bytes: number }> {
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
  const view = await decodeSnapshot(data).catch((err: Error) => {
    throw rejected(err.message);
  });
  if (view.version !== position.version) throw rejected(`it holds version ${view.version}, its metadata says ${position.version}`);
  return { view, position, bytes: data.length };
}

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
