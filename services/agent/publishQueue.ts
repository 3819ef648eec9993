// The agent's one ordered path to its event sink: events leave in the order
// they were queued, in batches, and a batch the sink refuses is retried as it
// was, with backoff, until the sink takes it. Nothing is dropped or reordered.
// Batches start at least PUBLISH_INTERVAL_MS apart: a change after a quiet
// spell leaves at once, a stream of changes leaves a batch at a time (each
// publish costs the agent, the log and the aggregator a wake-up or more).

import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChangeEvent } from '../../shared/events.js';
import type { Logger } from '../../shared/logger.js';
import { backoffDelay, type BackoffOptions } from '../../shared/backoff.js';
import { describeFailure } from './failure.js';

const PUBLISH_INTERVAL_MS = 10;

export interface EventSink {
  // Must keep order; may throw when the log is unavailable.
  publish(events: ChangeEvent[]): Promise<void>;
}

export class PublishQueueClosedError extends Error {
  constructor() {
    super('the publish queue was closed before these events were published');
  }
}

interface Waiter {
  upTo: number; // resolved once this many events were accepted since the start
  resolve(): void;
  reject(err: Error): void;
}

export class PublishQueue {
  private readonly pending: ChangeEvent[] = [];
  private queued = 0;
  private accepted = 0;
  private waiters: Waiter[] = [];
  private draining = false;
  private closed = false;
  private lastPublishAt = -Infinity;
  private readonly abort = new AbortController();

  constructor(
    private readonly sink: EventSink,
    private readonly logger: Logger,
    private readonly backoff: BackoffOptions,
    private readonly maxBatch = 500,
    private readonly intervalMs = PUBLISH_INTERVAL_MS,
  ) {}

  // Events queued and not yet accepted by the sink.
  get length(): number {
    return this.pending.length;
  }

  // Queues events behind everything queued before. After close() they are dropped.
  enqueue(events: ChangeEvent[]): void {
    if (this.closed || events.length === 0) return;
    this.pending.push(...events);
    this.queued += events.length;
    if (!this.draining) {
      this.draining = true;
      void this.drain();
    }
  }

  // Resolves once everything queued so far was accepted by the sink.
  flushed(): Promise<void> {
    if (this.accepted >= this.queued) return Promise.resolve();
    if (this.abort.signal.aborted) return Promise.reject(new PublishQueueClosedError());
    return new Promise((resolve, reject) => this.waiters.push({ upTo: this.queued, resolve, reject }));
  }

  // Stops taking events and waits up to timeoutMs for the queued ones to be
  // published; returns how many were not.
  async close(timeoutMs: number): Promise<number> {
    this.closed = true;
    const timeout = new AbortController();
    const drained = await Promise.race([
      this.flushed().then(() => true, () => false),
      sleep(timeoutMs, false, { signal: timeout.signal }).catch(() => false),
    ]);
    timeout.abort();
    if (!drained) {
      this.abort.abort();
      for (const w of this.waiters.splice(0)) w.reject(new PublishQueueClosedError());
    }
    return this.pending.length;
  }

  private async drain(): Promise<void> {
    try {
      await null; // lets events queued in the same tick join the first batch
      while (this.pending.length > 0 && !this.abort.signal.aborted) {
        if (!(await this.nextSlot())) return;
        const batch = this.pending.slice(0, this.maxBatch);
        if (!(await this.publishUntilAccepted(batch))) return;
        this.pending.splice(0, batch.length);
        this.accepted += batch.length;
        while (this.waiters[0] && this.waiters[0].upTo <= this.accepted) this.waiters.shift()?.resolve();
      }
    } finally {
      // In the same tick as the last look at `pending`, so no enqueue can slip between.
      this.draining = false;
    }
  }

  // Waits until intervalMs after the previous publish started; false when closed meanwhile.
  private async nextSlot(): Promise<boolean> {
    const wait = this.lastPublishAt + this.intervalMs - performance.now();
    if (wait > 0) {
      try {
        await sleep(wait, undefined, { signal: this.abort.signal });
      } catch {
        return false;
      }
    }
    this.lastPublishAt = performance.now();
    return true;
  }

  // False when closed before the sink accepted the batch.
  private async publishUntilAccepted(batch: ChangeEvent[]): Promise<boolean> {
    for (let failures = 0; ; failures += 1) {
      try {
        await this.sink.publish(batch);
        if (failures > 0) this.logger.info({ attempts: failures + 1 }, 'event sink accepts events again');
        return true;
      } catch (err) {
        if (this.abort.signal.aborted) return false;
        if (failures === 0) {
          this.logger.warn({ reason: describeFailure(err), events: this.pending.length }, 'event sink refused events; retrying them in order until it accepts');
        }
      }
      try {
        await sleep(backoffDelay(failures, this.backoff), undefined, { signal: this.abort.signal });
      } catch {
        return false; // closed while waiting
      }
    }
  }
}
