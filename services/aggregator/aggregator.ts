// The aggregator: follows the event log, projects each batch into the read
// model exactly once, and publishes the DNS view as a snapshot plus a delta
// whenever it caught up with the log (and now and then while it has not).
import { setTimeout as sleep } from 'node:timers/promises';
import type { EventLog, FollowedBatch, StoredEvent } from '../../shared/eventLog.js';
import { isClusterId } from '../../shared/events.js';
import type { Readiness } from '../../shared/httpServer.js';
import { silentLogger, type Logger } from '../../shared/logger.js';
import type { AggregatorMetrics } from '../../shared/metrics.js';
import { allSynced, applyDelta, copyView, type ClusterState, type DnsView, type ViewDelta, type ViewFeed, type ViewListener } from '../../shared/view.js';
import { CheckpointWriter } from './checkpoints.js';
import { fullView, viewDelta, type ViewSources } from './dnsView.js';
import { nothingTouched, Projection, type Touched } from './projection.js';
import { ReadModel } from './readModel.js';

export interface AggregatorOptions {
  log: EventLog;
  dbPath: string;
  expectedClusters?: string[]; // count as not synced until they sync, even before any event
  batchSize?: number; // most events applied in one transaction
  logger?: Logger;
  metrics?: AggregatorMetrics;
  // A cluster not synced this long after the start (or after it first
  // appeared, if later) counts as synced in the view it publishes: one silent
  // agent cannot keep the zone answering SERVFAIL. The read model keeps its
  // real state. Absent: wait forever.
  syncTimeoutMs?: number;
  // Copies of the read model every `every` events, the newest `keep` kept,
  // for audits of old moments (replay starts from the newest before them).
  checkpoints?: { dir: string; every: number; keep: number };
}

const RETRY_MS = 1000;
// Behind the log, the view waits for the catch-up, at most this long: a
// service whose events span many batches is then derived once, not once per
// batch, while followers of a long backlog still see it progress.
export const VIEW_DEFER_MS = 250;
// In step with the log, deltas start at least this far apart: a lone change
// goes out at once, a stream of them a window at a time. Each delta costs the
// aggregator a derivation and a publish, and every frontend a table update,
// whatever its size.
export const VIEW_PACING_MS = 10;
const LAG_REFRESH_MS = 1000;
// Readiness tolerates this many events not yet applied: a burst, not a stall.
export const DEFAULT_MAX_READY_LAG = 1000;

// Applied to the read model, not yet to the view: what it touched, since
// when, and when the timer publishing it is due (performance.now()).
interface Unviewed {
  touched: Touched;
  observedAt: number[];
  since: number;
  timer?: NodeJS.Timeout;
  due: number;
}

export class Aggregator implements ViewFeed {
  private readonly log: EventLog;
  private readonly model: ReadModel;
  private readonly projection: Projection;
  private readonly sources: ViewSources;
  private readonly batchSize: number;
  private readonly logger: Logger;
  private readonly metrics: AggregatorMetrics | undefined;
  private readonly listeners = new Set<ViewListener>();
  private readonly seqWaiters = new Set<{ seq: number; done: (reached: boolean) => void }>();
  private applied: number;
  private current: DnsView | undefined; // with the read model's real sync states; listeners get published()
  private unviewed: Unviewed | undefined;
  private lastViewAt = -Infinity; // performance.now() of the last delta
  private readonly syncTimeoutMs: number | undefined;
  private readonly syncDeadlines = new Map<string, NodeJS.Timeout>(); // clusters waiting for their first sync
  private readonly syncedByTimeout = new Set<string>();
  private following: { controller: AbortController; done: Promise<void> } | undefined;
  // The log's last sequence minus the last applied, as last measured; or why it could not be.
  private lag: { events: number } | { problem: string } = { problem: 'not started' };
  private lagTimer: NodeJS.Timeout | undefined;
  private readonly refreshLag = () => this.measureLag();
  private stopped = false;
  private readonly checkpoints: { every: number; writer: CheckpointWriter } | undefined;

  private constructor(opts: AggregatorOptions, model: ReadModel) {
    this.log = opts.log;
    this.model = model;
    this.projection = new Projection(model);
    this.logger = opts.logger ?? silentLogger;
    this.metrics = opts.metrics;
    this.batchSize = opts.batchSize ?? 1000;
    this.sources = { model, expectedClusters: [...new Set(opts.expectedClusters ?? [])], logger: this.logger, derived: new Map() };
    this.applied = model.lastApplied();
    this.syncTimeoutMs = opts.syncTimeoutMs;
    const c = opts.checkpoints;
    this.checkpoints = c && { every: c.every, writer: new CheckpointWriter(model.path, { dir: c.dir, keep: c.keep }, this.logger) };
  }

  // Opens (creating or migrating) the read model.
  static open(opts: AggregatorOptions): Aggregator {
    for (const id of opts.expectedClusters ?? []) {
      if (!isClusterId(id)) throw new Error(`expected cluster ${JSON.stringify(id)} is not an RFC 1123 label`);
    }
    if (opts.batchSize !== undefined && !(Number.isInteger(opts.batchSize) && opts.batchSize > 0)) {
      throw new Error(`batch size must be a positive integer, not ${opts.batchSize}`);
    }
    if (opts.syncTimeoutMs !== undefined && !(Number.isInteger(opts.syncTimeoutMs) && opts.syncTimeoutMs >= 0)) {
      throw new Error(`sync timeout must be a whole number of milliseconds, not ${opts.syncTimeoutMs}`);
    }
    return new Aggregator(opts, ReadModel.open(opts.dbPath, { objectsInMemory: true, logger: opts.logger }));
  }

  get lastApplied(): number {
    return this.applied;
  }

  // Events put aside as malformed so far.
  get rejectedEvents(): number {
    return this.model.rejectedEvents();
  }

  // Events in the log not yet applied, as measured within the last second; undefined when unknown.
  get lagEvents(): number | undefined {
    return 'events' in this.lag ? this.lag.events : undefined;
  }

  // Ready: started, every known and expected cluster synced (or past the
  // sync timeout), and at most maxLag events behind the log.
  readiness(maxLag = DEFAULT_MAX_READY_LAG): Readiness {
    const view = this.current;
    if (!view || this.stopped) return { ok: false, reason: this.stopped ? 'aggregator stopped' : 'aggregator not started' };
    const clusters = this.published(view.clusters);
    if (!allSynced({ clusters })) {
      const waiting = clusters.filter((c) => !c.synced).map((c) => c.id);
      return { ok: false, reason: `clusters not synced yet: ${waiting.join(', ')}` };
    }
    if ('problem' in this.lag) return { ok: false, reason: `cannot measure the lag behind the event log: ${this.lag.problem}` };
    if (this.lag.events > maxLag) return { ok: false, reason: `${this.lag.events} events behind the event log (more than ${maxLag})` };
    return { ok: true };
  }

  // Builds the view from the read model, then follows the log in the background.
  async start(): Promise<void> {
    if (this.following || this.stopped) throw new Error('aggregator already started or stopped');
    const logEnd = await this.log.lastSeq();
    if (this.stopped) throw new Error('aggregator stopped while starting');
    if (this.applied > logEnd) {
      throw new Error(
        `read model ${this.model.path} has applied up to seq ${this.applied} but the event log ends at ${logEnd}; remove the read model to rebuild it`,
      );
    }
    const view = fullView(this.sources, this.applied);
    this.current = view;
    this.lag = { events: logEnd - this.applied };
    this.lagTimer = setInterval(this.refreshLag, LAG_REFRESH_MS).unref();
    this.metrics?.lagRefreshers.add(this.refreshLag);
    this.metrics?.lastAppliedSeq.set(this.applied);
    this.metrics?.logLag.set(logEnd - this.applied);
    this.metrics?.viewServices.set(Object.keys(view.services).length);
    for (const listener of [...this.listeners]) this.notify(() => listener.snapshot(this.copyPublished(view)));
    this.watchSync(view.clusters);
    const controller = new AbortController();
    this.following = { controller, done: this.follow(controller.signal) };
    this.logger.info({ lastApplied: this.applied, services: Object.keys(view.services).length }, 'aggregator started');
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.lagTimer);
    clearTimeout(this.unviewed?.timer);
    for (const timer of this.syncDeadlines.values()) clearTimeout(timer);
    this.syncDeadlines.clear();
    this.metrics?.lagRefreshers.delete(this.refreshLag);
    this.following?.controller.abort();
    await this.following?.done;
    for (const waiter of [...this.seqWaiters]) waiter.done(false);
    await this.checkpoints?.writer.close();
    this.model.close();
  }

  // The view as published to listeners.
  view(): DnsView {
    if (!this.current) throw new Error('aggregator not started');
    return this.copyPublished(this.current);
  }

  subscribe(listener: ViewListener): () => void {
    this.listeners.add(listener);
    const view = this.current;
    if (view) this.notify(() => listener.snapshot(this.copyPublished(view)));
    return () => this.listeners.delete(listener);
  }

  // Resolves true once `seq` is applied and in the view, false after timeoutMs or on stop.
  waitForSeq(seq: number, timeoutMs: number): Promise<boolean> {
    if ((this.current?.version ?? this.applied) >= seq) return Promise.resolve(true);
    if (this.stopped) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter = {
        seq,
        done: (reached: boolean) => {
          clearTimeout(timer);
          this.seqWaiters.delete(waiter);
          resolve(reached);
        },
      };
      const timer = setTimeout(() => waiter.done(false), timeoutMs);
      this.seqWaiters.add(waiter);
    });
  }

  // Follows until stopped; a failure (log or database) is logged and retried
  // from the last applied event, which is where a restart would resume too.
  private async follow(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        for await (const batch of this.log.follow(this.applied + 1, signal)) this.applyFollowed(batch);
        if (signal.aborted) return;
        throw new Error('the event log stopped delivering events');
      } catch (err) {
        if (signal.aborted) return;
        this.publishViewLater();
        this.logger.error({ err, lastApplied: this.applied }, `following the event log failed; retrying in ${RETRY_MS} ms`);
        await sleep(RETRY_MS, undefined, { signal }).catch(() => undefined);
      }
    }
  }

  // Applies the batch a transaction of at most batchSize events at a time.
  // The view follows once the log holds no more (paced), or once it waited
  // VIEW_DEFER_MS; a timer stands in for a next batch slow to come, or never
  // coming (the log failed).
  private applyFollowed({ events, behind }: FollowedBatch): void {
    for (let i = 0; i < events.length; i += this.batchSize) this.apply(events.slice(i, i + this.batchSize));
    const unviewed = this.unviewed;
    if (!unviewed) return;
    const latest = unviewed.since + VIEW_DEFER_MS;
    const due = behind === 0 ? Math.min(this.lastViewAt + VIEW_PACING_MS, latest) : latest;
    const now = performance.now();
    if (due <= now) return this.publishView();
    if (!unviewed.timer || due < unviewed.due) this.viewLater(unviewed, due - now);
  }

  private apply(batch: StoredEvent[]): void {
    const events = batch.filter((e) => e.seq > this.applied);
    const first = events[0];
    const last = events[events.length - 1];
    if (!first || !last) return;
    if (first.seq !== this.applied + 1) {
      this.logger.warn({ missing: [this.applied + 1, first.seq - 1] }, 'the event log skipped sequences');
    }
    const { touched, rejected, observedAt } = this.projection.applyBatch(events);
    const before = this.applied;
    this.applied = last.seq;
    this.checkpoint(before);
    for (const r of rejected) this.logger.warn(r, 'event put aside');
    this.metrics?.eventsApplied.inc(observedAt.length);
    this.metrics?.eventsRejected.inc(rejected.length);
    this.metrics?.lastAppliedSeq.set(this.applied);
    this.unviewed ??= { touched: nothingTouched(), observedAt: [], since: performance.now(), due: Infinity };
    addTouched(this.unviewed.touched, touched);
    for (const at of observedAt) this.unviewed.observedAt.push(at);
  }

  private viewLater(unviewed: Unviewed, ms: number): void {
    clearTimeout(unviewed.timer);
    unviewed.timer = setTimeout(() => this.publishViewLater(), ms);
    unviewed.due = performance.now() + ms;
  }

  // Where no caller handles a failure: one to derive the view is logged and tried again later.
  private publishViewLater(): void {
    try {
      this.publishView();
    } catch (err) {
      this.logger.error({ err, lastApplied: this.applied }, `deriving the view failed; retrying in ${VIEW_DEFER_MS} ms`);
      if (this.unviewed && !this.stopped) this.viewLater(this.unviewed, VIEW_DEFER_MS);
    }
  }

  // One delta from the view to the read model's state, for everything applied since the last.
  private publishView(): void {
    const unviewed = this.unviewed;
    if (!unviewed || this.stopped) return;
    clearTimeout(unviewed.timer);
    const view = this.current!;
    const delta = viewDelta(this.sources, view, unviewed.touched, this.applied);
    this.unviewed = undefined;
    this.lastViewAt = performance.now();
    if (unviewed.observedAt.length > 0) delta.observedAt = unviewed.observedAt;
    if (this.metrics) this.countServices(delta, view);
    const publishedBefore = this.published(view.clusters);
    applyDelta(view, delta);
    const published = this.publishedDelta(delta, publishedBefore);
    for (const listener of [...this.listeners]) this.notify(() => listener.delta(published));
    for (const waiter of [...this.seqWaiters]) if (waiter.seq <= view.version) waiter.done(true);
    if (delta.clusters) this.watchSync(delta.clusters);
  }

  // A checkpoint when this batch crossed a multiple of `every`, written beside
  // the event loop; a failure is logged, never fatal: checkpoints only make audits faster.
  private checkpoint(before: number): void {
    const c = this.checkpoints;
    if (c && Math.floor(before / c.every) !== Math.floor(this.applied / c.every)) c.writer.write();
  }

  // Starts the sync timeout of clusters newly seen not synced, ends it for those that synced.
  private watchSync(clusters: readonly ClusterState[]): void {
    const timeoutMs = this.syncTimeoutMs;
    if (timeoutMs === undefined) return;
    for (const { id, synced } of clusters) {
      const deadline = this.syncDeadlines.get(id);
      if (synced) {
        clearTimeout(deadline);
        this.syncDeadlines.delete(id);
      } else if (!deadline && !this.syncedByTimeout.has(id)) {
        this.syncDeadlines.set(id, setTimeout(() => this.syncTimedOut(id, timeoutMs), timeoutMs).unref());
      }
    }
  }

  // Publishes the cluster as synced: a delta that changes only the clusters list, at the same version.
  private syncTimedOut(id: string, timeoutMs: number): void {
    this.syncDeadlines.delete(id);
    const view = this.current;
    if (!view || this.stopped || !view.clusters.some((c) => c.id === id && !c.synced)) return;
    const before = this.published(view.clusters);
    this.syncedByTimeout.add(id);
    this.logger.warn({ cluster: id, syncTimeoutMs: timeoutMs }, `cluster ${id} has not finished its first sync in ${timeoutMs} ms; answering as if it had (NXDOMAIN, not SERVFAIL, for missing names)`);
    const delta = this.publishedDelta({ from: view.version, to: view.version, clusters: view.clusters, services: { upsert: {}, remove: [] } }, before);
    for (const listener of [...this.listeners]) this.notify(() => listener.delta(delta));
  }

  // Cluster states as published: those past their sync timeout count as synced.
  private published(clusters: ClusterState[]): ClusterState[] {
    return clusters.map((c) => (!c.synced && this.syncedByTimeout.has(c.id) ? { ...c, synced: true } : c));
  }

  // The delta as listeners see it: the clusters list only when the published one changed.
  private publishedDelta(delta: ViewDelta, publishedBefore: ClusterState[]): ViewDelta {
    if (!delta.clusters) return delta;
    const { clusters, ...rest } = delta;
    const after = this.published(clusters);
    return JSON.stringify(after) === JSON.stringify(publishedBefore) ? rest : { ...rest, clusters: after };
  }

  private copyPublished(view: DnsView): DnsView {
    return { ...copyView(view), clusters: this.published(view.clusters) };
  }

  // Before the delta is applied to `view`: new services are those not in it yet.
  private countServices(delta: ViewDelta, view: DnsView): void {
    const added = Object.keys(delta.services.upsert).filter((key) => !Object.hasOwn(view.services, key)).length;
    this.metrics!.viewServices.inc(added - delta.services.remove.length);
  }

  private async measureLag(): Promise<void> {
    try {
      const lastSeq = await this.log.lastSeq();
      this.lag = { events: Math.max(0, lastSeq - this.applied) };
    } catch (err) {
      if (this.stopped) return;
      this.lag = { problem: err instanceof Error ? err.message : String(err) };
      this.logger.debug({ err }, "cannot read the event log's last sequence");
    }
    if ('events' in this.lag) this.metrics?.logLag.set(this.lag.events);
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

function addTouched(into: Touched, more: Touched): void {
  for (const key of more.services) into.services.add(key);
  for (const name of more.namespaces) into.namespaces.add(name);
  into.clusters ||= more.clusters;
}
