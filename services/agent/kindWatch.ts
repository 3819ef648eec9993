// One informer (list + watch of one kind) turned into change events: every
// list is a sync epoch, every DNS-relevant change one event, and an informer
// that stopped on an error is restarted with backoff.

import { ListWatch, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import {
  EVENT_SCHEMA_VERSION,
  type ChangeEvent,
  type Kind,
  type ObjectRef,
  type SyncEvent,
  type UpsertEvent,
} from '../../shared/events.js';
import type { Logger } from '../../shared/logger.js';
import { backoffDelay, type BackoffOptions } from '../../shared/backoff.js';
import { describeFailure } from './failure.js';
import type { PublishQueue } from './publishQueue.js';
import type { KindSource } from './sources.js';
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
  // The items of the last list: published with it, so the informer's adds for them are not trimmed again.
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

  // The informer's list function: the whole list is published as one sync
  // epoch before the informer sees it (and then calls add/update/delete).
  private async list(): Promise<KubernetesListObject<KubernetesObject>> {
    const list = await this.source.list();
    if (this.stopping) throw new StoppedError();
    const epoch = this.ctx.nextEpoch();
    const observedAt = new Date().toISOString();
    const published = new Map<string, string>();
    const upserts: ChangeEvent[] = [];
    for (const item of list.items) {
      const found = this.trim(item);
      if (!found) continue;
      published.set(objectKey(found.ref), found.json);
      upserts.push(this.upsertEvent(found.ref, found.object, epoch, observedAt));
    }
    this.epoch = epoch;
    this.published = published;
    this.listed = new WeakSet(list.items);
    this.ctx.queue.enqueue([this.syncEvent('sync-begin', epoch, observedAt), ...upserts, this.syncEvent('sync-end', epoch, observedAt)]);
    await this.ctx.queue.flushed();
    if (this.stopping) throw new StoppedError();
    this.ctx.logger.info({ kind: this.kind, epoch, objects: upserts.length }, `${this.kind} listed and published`);
    if (!this.synced) {
      this.synced = true;
      this.ctx.onFirstSync(this.kind);
    }
    return list;
  }

  private changed(raw: KubernetesObject): void {
    if (this.stopping || this.listed.has(raw)) return;
    const found = this.trim(raw);
    if (!found) {
      this.forget(raw); // no longer meaningful for DNS
      return;
    }
    const key = objectKey(found.ref);
    if (this.published.get(key) === found.json) return;
    this.published.set(key, found.json);
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
    this.ctx.queue.enqueue([{ ...this.eventBase(this.epoch, new Date().toISOString()), ...ref, op: 'delete' }]);
  }

  private trim(raw: KubernetesObject): { ref: ObjectRef; object: TrimmedObject; json: string } | undefined {
    const ref = objectRef(this.kind, raw);
    if (!ref) {
      this.ctx.logger.warn({ kind: this.kind }, `ignoring a ${this.kind} without name or namespace`);
      return undefined;
    }
    const object = trimObject(this.kind, raw, (reason) => this.logRejected(ref, reason));
    if (!object) return undefined;
    this.rejected.delete(objectKey(ref));
    return { ref, object, json: JSON.stringify(object) };
  }

  private logRejected(ref: ObjectRef, reason: string): void {
    const key = objectKey(ref);
    if (this.rejected.get(key) === ref.resourceVersion) return;
    this.rejected.set(key, ref.resourceVersion);
    this.ctx.logger.warn({ kind: this.kind, object: key, resourceVersion: ref.resourceVersion, reason }, `ignoring a ${this.kind} that means nothing for DNS`);
  }

  private eventBase(epoch: number, observedAt: string) {
    return { v: EVENT_SCHEMA_VERSION, cluster: this.ctx.clusterId, kind: this.kind, observedAt, epoch } as const;
  }

  private syncEvent(op: SyncEvent['op'], epoch: number, observedAt: string): SyncEvent {
    return { ...this.eventBase(epoch, observedAt), op, kinds: this.ctx.kinds };
  }

  private upsertEvent(ref: ObjectRef, object: TrimmedObject, epoch: number, observedAt: string): UpsertEvent {
    // trimObject(kind, …) returns the object type of that kind.
    return { ...this.eventBase(epoch, observedAt), ...ref, op: 'upsert', object } as UpsertEvent;
  }
}
