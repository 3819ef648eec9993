// One informer (list + watch of one kind) turned into change events: every
// list is a sync epoch, every DNS-relevant change one event, and an informer
// that stopped on an error is restarted with backoff.

import { ListWatch, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import {
  EVENT_SCHEMA_VERSION,
  objectJson,
  type ChangeEvent,
  type DeleteEvent,
  type Kind,
  type ObjectRef,
  type SyncEvent,
  type UpsertEvent,
} from '../../shared/events.js';
import type { Logger } from '../../shared/logger.js';
import { backoffDelay, type BackoffOptions } from '../../shared/backoff.js';
import { describeFailure } from './failure.js';
import type { PublishQueue } from './publishQueue.js';
import type { KindSource, ListPage } from './sources.js';
import { StoppableWatch } from './stoppableWatch.js';
import { objectKey, objectRef, trimObject, type TrimmedObject } from './trim.js';

export interface KindWatchContext {
  clusterId: string;
  kinds: Kind[]; // every kind the agent watches, for sync events
  kubeConfig: KubeConfig;
  queue: PublishQueue;
  logger: Logger;
  backoff: BackoffOptions;
  nextEpoch(): number;
  onFirstSync(kind: Kind): void;
  onWatchRestart(kind: Kind): void; // the list/watch opened again after its first start
}

class StoppedError extends Error {
  constructor() {
    super('stopped');
  }
}

export class KindWatch {
  private readonly kind: Kind;
  private readonly watch: StoppableWatch;
  private readonly informer: ListWatch<KubernetesObject>;
  private epoch = 0;
  // key → trimmed JSON of what was last published for it; absent = not present downstream.
  private published = new Map<string, string>();
  // What the last list gave the informer's cache: published with the list, so the informer's adds for them are skipped.
  private listed = new WeakSet<object>();
  // key → resourceVersion last logged as impossible to trim, so each version is logged once.
  private readonly rejected = new Map<string, string>();
  private synced = false;
  private connected = false;
  private stopping = false;
  private attempt = 0;
  private runFailed = false;
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly source: KindSource,
    private readonly ctx: KindWatchContext,
  ) {
    this.kind = source.kind;
    this.watch = new StoppableWatch(ctx.kubeConfig);
    // ListWatch is what makeInformer builds; built here to give it the StoppableWatch.
    this.informer = new ListWatch(source.path, this.watch, () => this.list(), false, source.labelSelector);
    this.informer.on('add', (obj) => this.changed(obj));
    this.informer.on('update', (obj) => this.changed(obj));
    this.informer.on('delete', (obj) => this.deleted(obj));
    this.informer.on('error', (err) => this.failed(err));
    // The informer reports every (re)connection: a dropped watch, a 410 Gone, a restart after an error.
    this.informer.on('connect', () => {
      if (this.connected) this.ctx.onWatchRestart(this.kind);
      this.connected = true;
    });
  }

  start(): void {
    void this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    this.watch.stop();
    await this.informer.stop();
  }

  private async run(): Promise<void> {
    this.runFailed = false;
    try {
      await this.informer.start();
    } catch (err) {
      this.failed(err);
    }
    // start() returns once the watch is open, or after reporting an error.
    if (!this.runFailed) this.attempt = 0;
  }

  private failed(err: unknown): void {
    if (this.stopping || this.restartTimer) return;
    this.runFailed = true;
    const delay = backoffDelay(this.attempt, this.ctx.backoff);
    this.attempt += 1;
    this.ctx.logger.warn({ kind: this.kind, reason: describeFailure(err), retryInMs: delay }, `${this.kind} list/watch failed; restarting it`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      void this.run();
    }, delay);
  }

  // The informer's list function: one sync epoch, published page by page
  // while the next page is on its way; once the sync-end is published, the
  // informer gets the whole list, as names and versions only (all its cache
  // needs), so that the objects of a page die young.
  private async list(): Promise<KubernetesListObject<KubernetesObject>> {
    const epoch = this.ctx.nextEpoch();
    const published = new Map<string, string>();
    const cached: KubernetesObject[] = [];
    let next = this.fetchPage(undefined);
    let resourceVersion: string | undefined;
    let observedAt = '';
    for (let pageNumber = 0; resourceVersion === undefined; pageNumber++) {
      const page = await next;
      if (this.stopping) throw new StoppedError();
      if (page.continueToken === undefined) resourceVersion = page.resourceVersion;
      else next = this.fetchPage(page.continueToken);
      observedAt = new Date().toISOString();
      const events: ChangeEvent[] = pageNumber === 0 ? [this.syncEvent('sync-begin', epoch, observedAt)] : [];
      for (const item of page.items) {
        cached.push(cacheEntry(item));
        const found = this.trim(item);
        if (!found) continue;
        published.set(found.key, found.json);
        events.push(this.upsertEvent(found.ref, found.object, epoch, observedAt));
      }
      this.ctx.queue.enqueue(events);
    }
    this.ctx.queue.enqueue([this.syncEvent('sync-end', epoch, observedAt)]);
    this.epoch = epoch;
    this.published = published;
    this.listed = new WeakSet(cached);
    await this.ctx.queue.flushed();
    if (this.stopping) throw new StoppedError();
    this.ctx.logger.info({ kind: this.kind, epoch, objects: published.size }, `${this.kind} listed and published`);
    if (!this.synced) {
      this.synced = true;
      this.ctx.onFirstSync(this.kind);
    }
    return { metadata: { resourceVersion }, items: cached };
  }

  // A page asked for ahead of need: its failure is handled where it is awaited, or not at all when the list stopped first.
  private fetchPage(continueToken: string | undefined): Promise<ListPage> {
    const page = this.source.listPage(continueToken);
    page.catch(() => undefined);
    return page;
  }

  private changed(raw: KubernetesObject): void {
    if (this.stopping || this.listed.has(raw)) return;
    const found = this.trim(raw);
    if (!found) {
      this.forget(raw); // no longer meaningful for DNS
      return;
    }
    if (this.published.get(found.key) === found.json) return;
    this.published.set(found.key, found.json);
    this.ctx.queue.enqueue([this.upsertEvent(found.ref, found.object, this.epoch, new Date().toISOString())]);
  }

  private deleted(raw: KubernetesObject): void {
    if (this.stopping) return;
    const ref = objectRef(this.kind, raw);
    if (ref) this.rejected.delete(objectKey(ref));
    this.forget(raw);
  }

  // Publishes a delete for an object downstream knows of.
  private forget(raw: KubernetesObject): void {
    const ref = objectRef(this.kind, raw);
    if (!ref || !this.published.delete(objectKey(ref))) return;
    this.ctx.queue.enqueue([this.deleteEvent(ref, this.epoch, new Date().toISOString())]);
  }

  private trim(raw: KubernetesObject): { ref: ObjectRef; key: string; object: TrimmedObject; json: string } | undefined {
    const ref = objectRef(this.kind, raw);
    if (!ref) {
      this.ctx.logger.warn({ kind: this.kind }, `ignoring a ${this.kind} without name or namespace`);
      return undefined;
    }
    const object = trimObject(this.kind, raw, (reason) => this.logRejected(ref, reason));
    if (!object) return undefined;
    const key = objectKey(ref);
    this.rejected.delete(key);
    return { ref, key, object, json: objectJson(object) };
  }

  private logRejected(ref: ObjectRef, reason: string): void {
    const key = objectKey(ref);
    if (this.rejected.get(key) === ref.resourceVersion) return;
    this.rejected.set(key, ref.resourceVersion);
    this.ctx.logger.warn({ kind: this.kind, object: key, resourceVersion: ref.resourceVersion, reason }, `ignoring a ${this.kind} that means nothing for DNS`);
  }

  // Events are written as literals, fields in their JSON order: spreads cost more than the rest of an event.
  private syncEvent(op: SyncEvent['op'], epoch: number, observedAt: string): SyncEvent {
    return { v: EVENT_SCHEMA_VERSION, cluster: this.ctx.clusterId, kind: this.kind, observedAt, epoch, op, kinds: this.ctx.kinds };
  }

  private upsertEvent(ref: ObjectRef, object: TrimmedObject, epoch: number, observedAt: string): UpsertEvent {
    const { namespace, name, uid, resourceVersion } = ref;
    const { clusterId: cluster } = this.ctx;
    // trimObject(kind, …) returns the object type of that kind.
    return { v: EVENT_SCHEMA_VERSION, cluster, kind: this.kind, observedAt, epoch, namespace, name, uid, resourceVersion, op: 'upsert', object } as UpsertEvent;
  }

  private deleteEvent(ref: ObjectRef, epoch: number, observedAt: string): DeleteEvent {
    const { namespace, name, uid, resourceVersion } = ref;
    const { clusterId: cluster } = this.ctx;
    return { v: EVENT_SCHEMA_VERSION, cluster, kind: this.kind, observedAt, epoch, namespace, name, uid, resourceVersion, op: 'delete' };
  }
}

// What the informer's cache keeps of a listed object: its identity and version.
function cacheEntry(item: KubernetesObject): KubernetesObject {
  const { name, namespace, uid, resourceVersion } = item.metadata ?? {};
  return { metadata: { name, namespace, uid, resourceVersion } };
}
