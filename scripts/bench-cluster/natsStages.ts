// Where the time goes in NATS mode, read back from the streams after a run:
// when an agent observed each change versus when JetStream stored its event,
// and when it stored the view delta that carries it; for a sync, when the
// events and the deltas were stored.
import { jetstream, type JsMsg } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { JetStreamEventLog, streamName } from '../../shared/jetstreamEventLog.js';
import { parseDeltaMessage, viewDistribution } from '../../shared/viewWire.js';
import { summarize, type Summary } from './stats.js';

export interface Stages {
  observedToEvent: Summary; // agent observed → event stored in the log
  observedToDelta: Summary; // agent observed → view delta stored
}

const storedAt = (m: JsMsg) => Number(m.timestampNanos / 1_000_000n);

// Changes observed at or after `sinceMs` (ms since the epoch).
export async function natsStages(url: string, sinceMs: number): Promise<Stages> {
  const nc = await connect({ servers: url });
  try {
    const log = await JetStreamEventLog.open(nc, { manageStream: false });
    const toEvent: number[] = [];
    for (let from = 1; ; ) {
      const events = await log.read(from, 5000);
      for (const e of events) {
        const observed = Date.parse((JSON.parse(e.payload) as { observedAt: string }).observedAt);
        if (observed >= sinceMs) toEvent.push(e.time.getTime() - observed);
      }
      if (events.length === 0) break;
      from = events.at(-1)!.seq + 1;
    }
    await log.close();

    const dist = viewDistribution({});
    const consumer = await jetstream(nc).consumers.get(dist.deltaStream, { filter_subjects: dist.deltaSubject });
    const pending = (await consumer.info(true)).num_pending;
    const toDelta: number[] = [];
    for (let seen = 0, fetched = -1; seen < pending && fetched !== 0; seen += fetched) {
      fetched = 0;
      for await (const m of await consumer.fetch({ max_messages: Math.min(1000, pending - seen), expires: 5000 })) {
        fetched++;
        const message = parseDeltaMessage(m.data);
        const delta = message && 'part' in message ? message.share : message; // a delta in parts: its last part has the times
        for (const observed of delta?.observedAt ?? []) if (observed >= sinceMs) toDelta.push(storedAt(m) - observed);
      }
    }
    await consumer.delete().catch(() => undefined);
    return { observedToEvent: summarize(toEvent), observedToDelta: summarize(toDelta) };
  } finally {
    await nc.close();
  }
}

export interface SyncStages {
  events: number;
  firstEventMs: number; // stored, after `sinceMs`
  lastEventMs: number;
  deltaMessages: number; // deltas and parts of deltas
  deltaBytes: number;
  lastDeltaMs: number;
}

// When the agents' events and the aggregator's deltas were stored, relative to sinceMs.
export async function syncStages(url: string, sinceMs: number): Promise<SyncStages> {
  const nc = await connect({ servers: url });
  try {
    const js = jetstream(nc);
    const times = async (stream: string, each: (m: JsMsg) => void) => {
      const consumer = await js.consumers.get(stream);
      const pending = (await consumer.info(true)).num_pending;
      for (let seen = 0, fetched = -1; seen < pending && fetched !== 0; seen += fetched) {
        fetched = 0;
        for await (const m of await consumer.fetch({ max_messages: Math.min(5000, pending - seen), expires: 5000 })) {
          fetched++;
          each(m);
        }
      }
      await consumer.delete().catch(() => undefined);
    };
    const stages: SyncStages = { events: 0, firstEventMs: Infinity, lastEventMs: 0, deltaMessages: 0, deltaBytes: 0, lastDeltaMs: 0 };
    await times(streamName('mcsdns', 'events'), (m) => {
      stages.events++;
      stages.firstEventMs = Math.min(stages.firstEventMs, storedAt(m) - sinceMs);
      stages.lastEventMs = Math.max(stages.lastEventMs, storedAt(m) - sinceMs);
    });
    await times(viewDistribution({}).deltaStream, (m) => {
      stages.deltaMessages++;
      stages.deltaBytes += m.data.length;
      stages.lastDeltaMs = Math.max(stages.lastDeltaMs, storedAt(m) - sinceMs);
    });
    return stages;
  } finally {
    await nc.close();
  }
}
