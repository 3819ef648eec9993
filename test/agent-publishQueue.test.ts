import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { ChangeEvent } from '../shared/events.js';
import { silentLogger } from '../shared/logger.js';
import { PublishQueue, PublishQueueClosedError, type EventSink } from '../services/agent/publishQueue.js';

const fast = { initialMs: 5, maxMs: 20 };

function events(from: number, count: number): ChangeEvent[] {
  return Array.from({ length: count }, (_, i) => ({
    v: 1,
    cluster: 'east',
    kind: 'Namespace',
    op: 'upsert',
    observedAt: '2024-01-01T00:00:00.000Z',
    epoch: 1,
    namespace: '',
    name: `ns-${from + i}`,
    uid: '',
    resourceVersion: String(from + i),
    object: {},
  }));
}

const names = (es: ChangeEvent[]): string[] => es.map((e) => ('name' in e ? e.name : e.op));

// A sink that records every call and refuses the first `failures` of them.
function recordingSink(failures = 0): EventSink & { calls: ChangeEvent[][]; accepted: ChangeEvent[] } {
  let left = failures;
  const sink = {
    calls: [] as ChangeEvent[][],
    accepted: [] as ChangeEvent[],
    async publish(batch: ChangeEvent[]) {
      sink.calls.push(batch);
      await new Promise((resolve) => setImmediate(resolve));
      if (left > 0) {
        left -= 1;
        throw new Error('log unavailable');
      }
      sink.accepted.push(...batch);
    },
  };
  return sink;
}

function capturedLogger(): { logger: typeof silentLogger; lines: { level: number; msg: string }[] } {
  const lines: { level: number; msg: string }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()));
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

describe('PublishQueue', () => {
  it('publishes in order, batching what is queued together, at most maxBatch per call', async () => {
    const sink = recordingSink();
    const queue = new PublishQueue(sink, silentLogger, fast, 4);
    queue.enqueue(events(0, 3));
    queue.enqueue(events(3, 7));
    await queue.flushed();
    assert.deepEqual(names(sink.accepted), names(events(0, 10)));
    assert.deepEqual(sink.calls.map((c) => c.length), [4, 4, 2]);
    assert.equal(await queue.close(100), 0);
  });

  it('retries the refused batch as it was, in order, and logs once per failure streak', async () => {
    const sink = recordingSink(3);
    const { logger, lines } = capturedLogger();
    const queue = new PublishQueue(sink, logger, fast, 500);
    queue.enqueue(events(0, 2));
    const firstFlushed = queue.flushed();
    while (sink.calls.length === 0) await new Promise((resolve) => setImmediate(resolve));
    queue.enqueue(events(2, 3)); // arrives while the first batch is being refused
    await firstFlushed;
    await queue.flushed();
    assert.deepEqual(names(sink.accepted), names(events(0, 5)));
    // The first batch was retried unchanged, the later events went afterwards.
    assert.deepEqual(sink.calls.map(names), [
      ['ns-0', 'ns-1'],
      ['ns-0', 'ns-1'],
      ['ns-0', 'ns-1'],
      ['ns-0', 'ns-1'],
      ['ns-2', 'ns-3', 'ns-4'],
    ]);
    assert.deepEqual(
      lines.filter((l) => l.level >= 40).map((l) => l.msg),
      ['event sink refused events; retrying them in order until it accepts'],
    );
    assert.ok(lines.some((l) => l.msg === 'event sink accepts events again'));
    await queue.close(100);
  });

  it('close() waits for queued events to be published', async () => {
    const sink = recordingSink(1);
    const queue = new PublishQueue(sink, silentLogger, fast);
    queue.enqueue(events(0, 3));
    assert.equal(await queue.close(2000), 0);
    assert.deepEqual(names(sink.accepted), names(events(0, 3)));
    queue.enqueue(events(3, 1)); // after close: dropped
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(sink.accepted.length, 3);
  });

  it('close() gives up after its timeout when the sink keeps refusing, and rejects waiters', async () => {
    const sink = recordingSink(Number.POSITIVE_INFINITY);
    const queue = new PublishQueue(sink, silentLogger, fast);
    queue.enqueue(events(0, 2));
    const flushed = queue.flushed();
    const started = Date.now();
    assert.equal(await queue.close(100), 2);
    assert.ok(Date.now() - started < 1000);
    await assert.rejects(flushed, PublishQueueClosedError);
    const calls = sink.calls.length;
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(sink.calls.length, calls, 'no retries after close');
  });

  it('flushed() resolves at once when nothing is pending', async () => {
    const queue = new PublishQueue(recordingSink(), silentLogger, fast);
    await queue.flushed();
    assert.equal(await queue.close(10), 0);
  });

  it('publishes a change after a quiet spell at once, and a stream of changes a batch per interval', async () => {
    const sink = recordingSink();
    const queue = new PublishQueue(sink, silentLogger, fast, 500, 300);
    const started = performance.now();
    queue.enqueue(events(0, 1));
    await queue.flushed();
    assert.ok(performance.now() - started < 200, 'the first event did not wait for the interval');
    for (let i = 1; i <= 20; i++) {
      queue.enqueue(events(i, 1));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await queue.flushed();
    assert.ok(performance.now() - started >= 290, 'the next batch waited for the interval');
    assert.deepEqual(names(sink.accepted), names(events(0, 21)));
    assert.ok(sink.calls.length <= 4, `${sink.calls.length} publishes for 21 events`);
    assert.equal(await queue.close(100), 0);
  });

  it('close() ends the wait for the next interval', async () => {
    const sink = recordingSink();
    const queue = new PublishQueue(sink, silentLogger, fast, 500, 60_000);
    queue.enqueue(events(0, 1));
    await queue.flushed();
    queue.enqueue(events(1, 1)); // waits for an interval of a minute
    const started = performance.now();
    assert.equal(await queue.close(50), 1);
    assert.ok(performance.now() - started < 1000);
    assert.deepEqual(names(sink.accepted), names(events(0, 1)));
  });
});
