// Where the time goes in NATS mode, read back from the streams after a run:
// when an agent observed each change versus when JetStream stored its event,
// and when it stored the view delta that carries it.
import { jetstream, type JsMsg } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { JetStreamEventLog } from '../../shared/jetstreamEventLog.js';
import { parseDelta, viewDistribution } from '../../shared/viewWire.js';
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
        for (const observed of parseDelta(m.string())?.observedAt ?? []) if (observed >= sinceMs) toDelta.push(storedAt(m) - observed);
      }
    }
    await consumer.delete().catch(() => undefined);
    return { observedToEvent: summarize(toEvent), observedToDelta: summarize(toDelta) };
  } finally {
    await nc.close();
  }
}
