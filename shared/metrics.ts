// Prometheus metrics. One Registry per process (never prom-client's global
// one); every service in the process registers on it. Each service's metrics
// are made once per registry, so `serve` (agents, aggregator and frontend in
// one process) and several agents register every name once.
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';

export type { Registry };

const PREFIX = 'mcsdns_';

// prom-client, with the OpenTelemetry API it loads, took 60–100 ms of a
// frontend's cold start: it loads when a registry is first made.
let loaded: typeof PromClient | undefined;
const promClient = (): typeof PromClient => (loaded ??= createRequire(import.meta.url)('prom-client') as typeof PromClient);

// A registry holding this process's CPU, memory, event loop and GC metrics.
// The event loop is sampled every 100 ms, not prom-client's 10: each sample
// wakes an idle process, about 1% of a core at 100 a second.
export function createRegistry(): Registry {
  const { Registry, collectDefaultMetrics } = promClient();
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: PREFIX, eventLoopMonitoringPrecision: 100 });
  return registry;
}

// The same metrics object for the same registry, however often asked for.
function perRegistry<T>(create: (registry: Registry) => T): (registry: Registry) => T {
  const made = new WeakMap<Registry, T>();
  return (registry) => {
    let metrics = made.get(registry);
    if (!metrics) {
      metrics = create(registry);
      made.set(registry, metrics);
    }
    return metrics;
  };
}

export interface AgentMetrics {
  eventsPublished: Counter<'cluster' | 'kind' | 'op'>;
  watchRestarts: Counter<'cluster' | 'kind'>;
  synced: Gauge<'cluster'>;
  // cluster → its publish queue's length, read at scrape time.
  queueLengths: Map<string, () => number>;
}

export const agentMetrics = perRegistry((registry): AgentMetrics => {
  const { Counter, Gauge } = promClient();
  const queueLengths = new Map<string, () => number>();
  new Gauge({
    name: `${PREFIX}agent_publish_queue_length`,
    help: 'Events queued by the agent and not yet accepted by the event log.',
    labelNames: ['cluster'],
    registers: [registry],
    collect() {
      for (const [cluster, length] of queueLengths) this.set({ cluster }, length());
    },
  });
  return {
    eventsPublished: new Counter({
      name: `${PREFIX}agent_events_published_total`,
      help: 'Change events the event log accepted from the agent.',
      labelNames: ['cluster', 'kind', 'op'],
      registers: [registry],
    }),
    watchRestarts: new Counter({
      name: `${PREFIX}agent_watch_restarts_total`,
      help: 'Times a list/watch was opened again after its first start (dropped watch, 410 Gone, error).',
      labelNames: ['cluster', 'kind'],
      registers: [registry],
    }),
    synced: new Gauge({
      name: `${PREFIX}agent_synced`,
      help: '1 once every watched kind was listed and published, else 0.',
      labelNames: ['cluster'],
      registers: [registry],
    }),
    queueLengths,
  };
});

export interface AggregatorMetrics {
  eventsApplied: Counter;
  eventsRejected: Counter;
  lastAppliedSeq: Gauge;
  logLag: Gauge;
  viewServices: Gauge;
  // Measure the lag afresh on every scrape; each must catch its own failures.
  lagRefreshers: Set<() => Promise<void>>;
}

export const aggregatorMetrics = perRegistry((registry): AggregatorMetrics => {
  const { Counter, Gauge } = promClient();
  const lagRefreshers = new Set<() => Promise<void>>();
  return {
    eventsApplied: new Counter({
      name: `${PREFIX}aggregator_events_applied_total`,
      help: 'Events projected into the read model.',
      registers: [registry],
    }),
    eventsRejected: new Counter({
      name: `${PREFIX}aggregator_events_rejected_total`,
      help: 'Malformed events put aside instead of projected.',
      registers: [registry],
    }),
    lastAppliedSeq: new Gauge({
      name: `${PREFIX}aggregator_last_applied_seq`,
      help: 'The event log sequence the read model reflects.',
      registers: [registry],
    }),
    logLag: new Gauge({
      name: `${PREFIX}aggregator_log_lag_events`,
      help: "Events in the log not yet applied (the log's last sequence minus the last applied).",
      registers: [registry],
      async collect() {
        await Promise.all([...lagRefreshers].map((refresh) => refresh()));
      },
    }),
    viewServices: new Gauge({
      name: `${PREFIX}aggregator_view_services`,
      help: 'Services in the DNS view.',
      registers: [registry],
    }),
    lagRefreshers,
  };
});

// Query types counted separately; any other type counts as "other", and a
// query whose question could not be read as "unparsed".
const QUERY_TYPES: readonly (readonly [number, string])[] = [
  [1, 'A'],
  [28, 'AAAA'],
  [33, 'SRV'],
  [16, 'TXT'],
  [6, 'SOA'],
  [2, 'NS'],
  [255, 'ANY'],
];
const TYPE_LABELS = [...QUERY_TYPES.map(([, label]) => label), 'other', 'unparsed'];
const OTHER_TYPE_SLOT = QUERY_TYPES.length;
const UNPARSED_TYPE_SLOT = QUERY_TYPES.length + 1;
// Every QTYPE (16 bits) to its slot: one array read per query.
const TYPE_SLOTS = new Uint8Array(65536).fill(OTHER_TYPE_SLOT);
QUERY_TYPES.forEach(([qtype], slot) => (TYPE_SLOTS[qtype] = slot));

const BADVERS = 16;
// RCODEs 0–5 by their number, then the extended BADVERS, then anything else.
const RCODE_LABELS = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'BADVERS', 'other'];
const BADVERS_SLOT = 6;
const OTHER_RCODE_SLOT = 7;

function rcodeSlot(rcode: number): number {
  if (rcode >= 0 && rcode < BADVERS_SLOT) return rcode;
  return rcode === BADVERS ? BADVERS_SLOT : OTHER_RCODE_SLOT;
}

// Answered queries by (type, rcode) in one flat array. The query path only
// adds to it; a scrape turns it into series. prom-client is never called per query.
export class QueryCounts {
  readonly counts = new Float64Array(TYPE_LABELS.length * RCODE_LABELS.length);

  // rcode: the full (extended) RCODE, e.g. 16 for BADVERS.
  add(qtype: number, rcode: number): void {
    this.counts[(TYPE_SLOTS[qtype] ?? OTHER_TYPE_SLOT) * RCODE_LABELS.length + rcodeSlot(rcode)]! += 1;
  }

  addUnparsed(rcode: number): void {
    this.counts[UNPARSED_TYPE_SLOT * RCODE_LABELS.length + rcodeSlot(rcode)]! += 1;
  }

  // Every non-zero count with its labels.
  series(): { type: string; rcode: string; count: number }[] {
    const out: { type: string; rcode: string; count: number }[] = [];
    this.counts.forEach((count, slot) => {
      if (count === 0) return;
      const type = TYPE_LABELS[Math.floor(slot / RCODE_LABELS.length)]!;
      out.push({ type, rcode: RCODE_LABELS[slot % RCODE_LABELS.length]!, count });
    });
    return out;
  }
}

// The label of a header RCODE (0–15), as queries_total names it.
export function rcodeLabel(rcode: number): string {
  return RCODE_LABELS[rcodeSlot(rcode)]!;
}

export interface FrontendMetrics {
  snapshotVersion: Gauge;
  queries: QueryCounts;
  forwarded: Counter<'rcode'>;
  programmingLatency: Histogram;
}

// From a watch event at an agent to its answer at a frontend: milliseconds
// when all is well, seconds or more while catching up.
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

export const frontendMetrics = perRegistry((registry): FrontendMetrics => {
  const { Counter, Gauge, Histogram } = promClient();
  const queries = new QueryCounts();
  new Counter({
    name: `${PREFIX}frontend_queries_total`,
    help: 'DNS queries answered, by query type and response code.',
    labelNames: ['type', 'rcode'],
    registers: [registry],
    collect() {
      this.reset();
      for (const { type, rcode, count } of queries.series()) this.inc({ type, rcode }, count);
    },
  });
  return {
    snapshotVersion: new Gauge({
      name: `${PREFIX}frontend_snapshot_version`,
      help: 'The DNS view version the frontend answers from.',
      registers: [registry],
      aggregator: 'min', // with --workers: the oldest version any of them answers from
    }),
    queries,
    forwarded: new Counter({
      name: `${PREFIX}frontend_forwarded_total`,
      help: 'Queries answered by the upstreams instead (fallthrough), by the response code the client got: SERVFAIL when no upstream answered. queries_total counts them under the frontend\'s own NXDOMAIN or REFUSED.',
      labelNames: ['rcode'],
      registers: [registry],
    }),
    programmingLatency: new Histogram({
      name: `${PREFIX}frontend_programming_latency_seconds`,
      help: 'Time from an event observed by an agent to its change being answered by this frontend.',
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
  };
});
