// The agent of one member cluster: informers on ServiceImports,
// EndpointSlices and Namespaces, published as change events to a sink in
// order. It never computes DNS.

import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import type { EventLog } from '../../shared/eventLog.js';
import { encodeEvent, eventId, isClusterId, KINDS, type Kind } from '../../shared/events.js';
import type { Readiness } from '../../shared/httpServer.js';
import { silentLogger, type Logger } from '../../shared/logger.js';
import type { AgentMetrics } from '../../shared/metrics.js';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from '../../shared/backoff.js';
import { KindWatch, type KindWatchContext } from './kindWatch.js';
import { kubeConfigProblem } from './kubeconfig.js';
import { PublishQueue, type EventSink } from './publishQueue.js';
import { discoverServiceImportVersion, endpointSliceSource, namespaceSource, serviceImportSource } from './sources.js';

export type { EventSink } from './publishQueue.js';

export function eventLogSink(log: EventLog): EventSink {
  return {
    async publish(events) {
      await log.append(events.map((e) => ({ id: eventId(e), cluster: e.cluster, payload: encodeEvent(e) })));
    },
  };
}

// Counts what the sink accepted, by kind and op.
function countingSink(sink: EventSink, cluster: string, metrics: AgentMetrics): EventSink {
  return {
    async publish(events) {
      await sink.publish(events);
      for (const e of events) metrics.eventsPublished.inc({ cluster, kind: e.kind, op: e.op });
    },
  };
}

export interface AgentOptions {
  clusterId: string;
  kubeConfig: KubeConfig;
  noEndpoints?: boolean;
  sink: EventSink;
  logger?: Logger;
  backoff?: BackoffOptions;
  metrics?: AgentMetrics;
}

// How long stop() waits for queued events to reach the sink.
const STOP_DRAIN_MS = 5000;

export class Agent {
  readonly kinds: Kind[];
  private readonly logger: Logger;
  private readonly backoff: BackoffOptions;
  private readonly queue: PublishQueue;
  private readonly watches: KindWatch[] = [];
  private readonly syncedKinds = new Set<Kind>();
  private readonly syncWaiters = new Set<(synced: boolean) => void>();
  private readonly stopSignal = new AbortController();
  private discovery: Promise<void> | undefined;
  private lastEpoch = 0;
  private started = false;
  private stopping = false;

  constructor(private readonly opts: AgentOptions) {
    this.kinds = KINDS.filter((k) => !(opts.noEndpoints && k === 'EndpointSlice'));
    this.logger = opts.logger ?? silentLogger;
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.queue = new PublishQueue(opts.metrics ? countingSink(opts.sink, opts.clusterId, opts.metrics) : opts.sink, this.logger, this.backoff);
  }

  // Every watched kind completed its first list and its events were published.
  get synced(): boolean {
    return this.kinds.every((k) => this.syncedKinds.has(k));
  }

  readiness(): Readiness {
    if (this.synced) return { ok: true };
    const waiting = this.kinds.filter((k) => !this.syncedKinds.has(k));
    return { ok: false, reason: `cluster ${this.opts.clusterId}: not yet listed and published: ${waiting.join(', ')}` };
  }

  // Returns once the informers are started; throws only for an unusable configuration.
  async start(): Promise<void> {
    const { clusterId, kubeConfig } = this.opts;
    if (this.started || this.stopping) throw new Error(`agent for cluster ${clusterId} can start only once`);
    if (!isClusterId(clusterId)) throw new Error(`cluster id ${JSON.stringify(clusterId)} is not an RFC 1123 label`);
    const problem = kubeConfigProblem(kubeConfig);
    if (problem) throw new Error(`cluster ${clusterId}: ${problem}`);
    this.started = true;
    const metrics = this.opts.metrics;
    metrics?.synced.set({ cluster: clusterId }, 0);
    metrics?.queueLengths.set(clusterId, () => this.queue.length);
    const ctx: KindWatchContext = {
      clusterId,
      kinds: this.kinds,
      kubeConfig,
      queue: this.queue,
      logger: this.logger,
      backoff: this.backoff,
      nextEpoch: () => (this.lastEpoch = Math.max(this.lastEpoch + 1, Date.now())),
      onFirstSync: (kind) => this.firstSync(kind),
      onWatchRestart: (kind) => metrics?.watchRestarts.inc({ cluster: clusterId, kind }),
    };
    if (this.kinds.includes('EndpointSlice')) this.watch(new KindWatch(endpointSliceSource(kubeConfig), ctx));
    this.watch(new KindWatch(namespaceSource(kubeConfig), ctx));
    this.discovery = this.watchServiceImports(ctx);
    this.logger.info({ server: kubeConfig.getCurrentCluster()?.server, kinds: this.kinds }, 'agent started');
  }

  // Stops the informers and waits (bounded) for queued events to reach the sink.
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.stopSignal.abort();
    await this.discovery;
    await Promise.all(this.watches.map((w) => w.stop()));
    const unpublished = await this.queue.close(STOP_DRAIN_MS);
    if (unpublished > 0) {
      this.logger.warn({ unpublished }, 'stopped before the sink took every event; the next start lists everything again');
    }
    for (const finish of [...this.syncWaiters]) finish(false);
    this.logger.info('agent stopped');
  }

  waitForSync(timeoutMs: number): Promise<boolean> {
    if (this.synced) return Promise.resolve(true);
    if (this.stopping) return Promise.resolve(false);
    return new Promise((resolve) => {
      const finish = (synced: boolean): void => {
        clearTimeout(timer);
        this.syncWaiters.delete(finish);
        resolve(synced);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      this.syncWaiters.add(finish);
    });
  }

  private watch(kindWatch: KindWatch): void {
    this.watches.push(kindWatch);
    kindWatch.start();
  }

  private firstSync(kind: Kind): void {
    this.syncedKinds.add(kind);
    if (!this.synced) return;
    this.opts.metrics?.synced.set({ cluster: this.opts.clusterId }, 1);
    this.logger.info('agent synced: every kind listed and published');
    for (const finish of [...this.syncWaiters]) finish(true);
  }

  // ServiceImports are watched once discovery names a served version; until
  // then the other kinds run and discovery is retried with backoff.
  private async watchServiceImports(ctx: KindWatchContext): Promise<void> {
    const { kubeConfig } = this.opts;
    const signal = this.stopSignal.signal;
    let lastProblem: string | undefined;
    for (let attempt = 0; ; attempt += 1) {
      const found = await discoverServiceImportVersion(kubeConfig, signal);
      if (this.stopping) return;
      if ('version' in found) {
        this.logger.info({ version: found.version }, 'watching ServiceImports');
        this.watch(new KindWatch(serviceImportSource(kubeConfig, found.version), ctx));
        return;
      }
      const delay = backoffDelay(attempt, this.backoff);
      const retry = { reason: found.problem, retryInMs: delay };
      const message = 'cannot watch ServiceImports yet; retrying discovery';
      if (found.problem === lastProblem) this.logger.debug(retry, message);
      else this.logger.warn(retry, message);
      lastProblem = found.problem;
      try {
        await sleep(delay, undefined, { signal });
      } catch {
        return; // stopped
      }
    }
  }
}
