// npm run bench:ingest: how fast events get from the log into the read model.
// Generates a seeded stream of change events (every cluster's initial sync,
// then changes), appends it to an embedded log through the agent's publish
// path, then measures side by side, in rounds:
//   projection: the aggregator's loop (log.follow, batches, Projection.applyBatch) into a fresh read model;
//   raw:        better-sqlite3 upserts of the same rows, one prepared statement per table, same transaction size;
// and once the whole aggregator (projection and view deltas; the whole log is
// one backlog to it). BENCH_NATS=1 adds the JetStream append rate of the
// agent's publish path. Numbers only; nothing here fails for being slow.
//
// Sizes: BENCH_EVENTS (200000), BENCH_SERVICES (20000), BENCH_CLUSTERS (3),
// BENCH_HEADLESS (share of services, 0.25), BENCH_ENDPOINTS (per slice, 3),
// BENCH_SEED (1), BENCH_BATCH (events per transaction, 1000 as the aggregator),
// BENCH_ROUNDS (3), BENCH_NATS_EVENTS (50000).
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { connect } from '@nats-io/transport-node';
import { eventLogSink } from '../services/agent/agent.js';
import { PublishQueue } from '../services/agent/publishQueue.js';
import { Aggregator, VIEW_DEFER_MS } from '../services/aggregator/aggregator.js';
import { Projection } from '../services/aggregator/projection.js';
import { ReadModel } from '../services/aggregator/readModel.js';
import { DEFAULT_BACKOFF } from '../shared/backoff.js';
import type { EventLog } from '../shared/eventLog.js';
import { KINDS, type ChangeEvent, type Endpoint, type Kind, type UpsertEvent } from '../shared/events.js';
import { JetStreamEventLog } from '../shared/jetstreamEventLog.js';
import { silentLogger } from '../shared/logger.js';
import { SqliteEventLog } from '../shared/sqliteEventLog.js';
import { NatsServer } from '../test/support/natsServer.js';
import { clusterIds } from './bench/clusterset.js';
import { seededRandom } from '../test/support/random.js';
import { envNumber } from './bench/env.js';

const TARGET_EVENTS_PER_S = 50_000;
const TARGET_RATIO = 0.25;
const SERVICES_PER_NAMESPACE = 20;


const spec = {
  events: envNumber('BENCH_EVENTS', 200_000),
  services: Math.max(1, envNumber('BENCH_SERVICES', 20_000)),
  clusters: Math.max(1, envNumber('BENCH_CLUSTERS', 3)),
  headlessShare: envNumber('BENCH_HEADLESS', 0.25),
  endpoints: envNumber('BENCH_ENDPOINTS', 3),
  seed: envNumber('BENCH_SEED', 1),
};
const batchSize = Math.max(1, envNumber('BENCH_BATCH', 1000));
const rounds = Math.max(1, envNumber('BENCH_ROUNDS', 3));
const natsEvents = envNumber('BENCH_NATS_EVENTS', 50_000);

// The stream: each cluster's initial sync of every service (all clusters
// export all services), then random changes: a new address of an import, or
// new endpoints of a headless service's slice. Cut at spec.events.
function generateEvents(): ChangeEvent[] {
  const random = seededRandom(spec.seed);
  const clusters = clusterIds(spec.clusters);
  const namespaces = Math.max(1, Math.ceil(spec.services / SERVICES_PER_NAMESPACE));
  const headless = (s: number) => s < spec.services * spec.headlessShare;
  const observedAt = new Date().toISOString();
  let version = 0;
  const ref = (cluster: string, kind: Kind, namespace: string, name: string) =>
    ({ v: 1, cluster, kind, observedAt, epoch: 1, namespace, name, uid: `${cluster}-${namespace}-${name}`, resourceVersion: String(++version), op: 'upsert' }) as const;
  const sync = (cluster: string, kind: Kind, op: 'sync-begin' | 'sync-end'): ChangeEvent => ({ v: 1, cluster, kind, observedAt, epoch: 1, op, kinds: [...KINDS] });
  const endpoints = (s: number): Endpoint[] =>
    Array.from({ length: spec.endpoints }, (_, e) => ({
      addresses: [`10.${(s >> 8) & 255}.${s & 255}.${Math.floor(random() * 256)}`],
      hostname: `svc-${s}-${e}`,
      ready: random() < 0.9,
    }));
  const serviceImport = (cluster: string, s: number): UpsertEvent => ({
    ...ref(cluster, 'ServiceImport', `ns-${s % namespaces}`, `svc-${s}`),
    kind: 'ServiceImport',
    object: {
      type: headless(s) ? 'Headless' : 'ClusterSetIP',
      ips: headless(s) ? [] : [`10.96.${Math.floor(random() * 256)}.${Math.floor(random() * 256)}`],
      ports: [{ name: 'http', protocol: 'TCP', port: 80 }],
    },
  });
  const slice = (cluster: string, s: number): UpsertEvent => ({
    ...ref(cluster, 'EndpointSlice', `ns-${s % namespaces}`, `svc-${s}-${cluster}`),
    kind: 'EndpointSlice',
    object: { serviceName: `svc-${s}`, sourceCluster: cluster, addressType: 'IPv4', endpoints: endpoints(s), ports: [{ name: 'http', protocol: 'TCP', port: 80 }] },
  });
  const out: ChangeEvent[] = [];
  for (const cluster of clusters) {
    out.push(sync(cluster, 'Namespace', 'sync-begin'));
    for (let n = 0; n < namespaces; n++) out.push({ ...ref(cluster, 'Namespace', '', `ns-${n}`), kind: 'Namespace', object: {} });
    out.push(sync(cluster, 'Namespace', 'sync-end'), sync(cluster, 'ServiceImport', 'sync-begin'));
    for (let s = 0; s < spec.services; s++) out.push(serviceImport(cluster, s));
    out.push(sync(cluster, 'ServiceImport', 'sync-end'), sync(cluster, 'EndpointSlice', 'sync-begin'));
    for (let s = 0; s < spec.services && headless(s); s++) out.push(slice(cluster, s));
    out.push(sync(cluster, 'EndpointSlice', 'sync-end'));
  }
  while (out.length < spec.events) {
    const cluster = clusters[Math.floor(random() * clusters.length)]!;
    const s = Math.floor(random() * spec.services);
    out.push(headless(s) ? slice(cluster, s) : serviceImport(cluster, s));
  }
  return out.slice(0, spec.events);
}

// The agent's path to a log: its publish queue (batches of 500) and sink.
async function publish(log: EventLog, events: ChangeEvent[]): Promise<void> {
  const queue = new PublishQueue(eventLogSink(log), silentLogger, DEFAULT_BACKOFF);
  // In pieces, as informers hand them over (one enqueue of 200,000 would overflow push(...events)).
  for (let i = 0; i < events.length; i += 10_000) queue.enqueue(events.slice(i, i + 10_000));
  await queue.flushed();
  await queue.close(0);
}

interface Measured {
  count: number;
  wallMs: number;
  cpuMs: number;
}

async function measure(count: number, run: () => Promise<void> | void): Promise<Measured> {
  const cpu = process.cpuUsage();
  const start = performance.now();
  await run();
  const wallMs = performance.now() - start;
  const used = process.cpuUsage(cpu);
  return { count, wallMs, cpuMs: (used.user + used.system) / 1000 };
}

const perSecond = (m: Measured) => m.count / (m.wallMs / 1000);
const perCpuSecond = (m: Measured) => m.count / (m.cpuMs / 1000);
const rate = (n: number) => `${Math.round(n).toLocaleString('en-US')}/s`;

function report(what: string, m: Measured, unit: string): void {
  console.log(`${what.padEnd(34)} ${rate(perSecond(m)).padStart(10)} ${unit}  (${(m.wallMs / 1000).toFixed(2)} s; ${rate(perCpuSecond(m))} per CPU-second)`);
}

function removeDatabase(path: string): void {
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
}

// The aggregator's loop without the view: follow the log, apply in batches.
async function project(log: EventLog, dbPath: string, lastSeq: number): Promise<void> {
  removeDatabase(dbPath);
  const model = ReadModel.open(dbPath);
  const projection = new Projection(model);
  const stop = new AbortController();
  try {
    for await (const { events } of log.follow(1, stop.signal)) {
      for (let i = 0; i < events.length; i += batchSize) projection.applyBatch(events.slice(i, i + batchSize));
      if (events[events.length - 1]!.seq >= lastSeq) stop.abort();
    }
  } finally {
    model.close();
  }
}

type Row = [table: 'imports' | 'slices' | 'namespaces', values: (string | number)[]];

// The row each upsert writes, in the projection's columns; sync events write none.
function rowOf(e: ChangeEvent, seq: number): Row | undefined {
  if (e.op !== 'upsert') return undefined;
  const head = [e.cluster, e.namespace, e.name, e.uid, e.resourceVersion, e.epoch, seq];
  switch (e.kind) {
    case 'ServiceImport':
      return ['imports', [...head, JSON.stringify(e.object)]];
    case 'EndpointSlice':
      return ['slices', [...head, e.object.serviceName, JSON.stringify(e.object)]];
    case 'Namespace':
      return ['namespaces', [e.cluster, e.name, e.uid, e.resourceVersion, e.epoch, seq]];
  }
}

// The same rows straight into a fresh read model (same schema and settings).
function insertRaw(rows: Row[], dbPath: string): void {
  removeDatabase(dbPath);
  const model = ReadModel.open(dbPath);
  const keep = 'uid = excluded.uid, resource_version = excluded.resource_version, epoch = excluded.epoch, seq = excluded.seq';
  const statements = {
    imports: model.db.prepare(
      `INSERT INTO service_imports (cluster, namespace, name, uid, resource_version, epoch, seq, object) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (cluster, namespace, name) DO UPDATE SET ${keep}, object = excluded.object`,
    ),
    slices: model.db.prepare(
      `INSERT INTO endpoint_slices (cluster, namespace, name, uid, resource_version, epoch, seq, service_name, object) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (cluster, namespace, name) DO UPDATE SET ${keep}, service_name = excluded.service_name, object = excluded.object`,
    ),
    namespaces: model.db.prepare(
      `INSERT INTO namespaces (cluster, name, uid, resource_version, epoch, seq) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (cluster, name) DO UPDATE SET ${keep}`,
    ),
  };
  const insertAll = model.db.transaction((batch: Row[]) => {
    for (const [table, values] of batch) statements[table].run(values);
  });
  try {
    for (let i = 0; i < rows.length; i += batchSize) insertAll(rows.slice(i, i + batchSize));
  } finally {
    model.close();
  }
}

async function natsAppend(events: ChangeEvent[]): Promise<Measured> {
  const server = await NatsServer.start();
  const nc = await connect({ servers: server.url });
  try {
    const log = await JetStreamEventLog.open(nc);
    const measured = await measure(events.length, () => publish(log, events));
    await log.close();
    return measured;
  } finally {
    await nc.close();
    await server.stop();
  }
}

const dir = mkdtempSync(join(tmpdir(), 'mcsdns-bench-ingest-'));
const log = SqliteEventLog.open(join(dir, 'events.db'), { followBatchSize: batchSize });
try {
  console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, load average ${loadavg()[0]!.toFixed(2)} (a busy machine makes every number lower and noisier)`);
  const events = generateEvents();
  const rows = events.flatMap((e, i): Row[] => {
    const row = rowOf(e, i + 1);
    return row ? [row] : [];
  });
  console.log(
    `${events.length} events: ${spec.services} services in ${spec.clusters} clusters, ${Math.round(spec.headlessShare * 100)}% headless with ${spec.endpoints} endpoints per slice, seed ${spec.seed}; ${rows.length} object rows; ${batchSize} events per transaction`,
  );
  report('append to the embedded log', await measure(events.length, () => publish(log, events)), 'events');
  const lastSeq = await log.lastSeq();

  let bestProjection: Measured | undefined;
  let bestRaw: Measured | undefined;
  for (let round = 1; round <= rounds; round++) {
    const raw = await measure(rows.length, () => insertRaw(rows, join(dir, 'raw.db')));
    const projection = await measure(lastSeq, () => project(log, join(dir, 'projection.db'), lastSeq));
    report(`round ${round}: raw better-sqlite3 upserts`, raw, 'rows');
    report(`round ${round}: projection from the log`, projection, 'events');
    if (!bestRaw || perSecond(raw) > perSecond(bestRaw)) bestRaw = raw;
    if (!bestProjection || perSecond(projection) > perSecond(bestProjection)) bestProjection = projection;
  }

  const aggregatorDb = join(dir, 'aggregator.db');
  let viewDeltas = 0;
  const aggregated = await measure(lastSeq, async () => {
    const aggregator = Aggregator.open({ log, dbPath: aggregatorDb, batchSize });
    aggregator.subscribe({ snapshot: () => undefined, delta: () => viewDeltas++ });
    await aggregator.start();
    await aggregator.waitForSeq(lastSeq, 3_600_000);
    await aggregator.stop();
  });
  report('aggregator (projection + view)', aggregated, 'events');
  console.log(`  ${viewDeltas} view deltas: one per catch-up, or per ${VIEW_DEFER_MS} ms of a long one`);

  const projectionRate = perSecond(bestProjection!);
  const ratio = projectionRate / perSecond(bestRaw!);
  const cpuRatio = perCpuSecond(bestProjection!) / perCpuSecond(bestRaw!);
  const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');
  console.log(`best projection ${rate(projectionRate)} events (target ${rate(TARGET_EVENTS_PER_S)}: ${verdict(projectionRate >= TARGET_EVENTS_PER_S)})`);
  console.log(`projection / raw: ${ratio.toFixed(2)} by wall time, ${cpuRatio.toFixed(2)} by CPU time (target ≥ ${TARGET_RATIO}: ${verdict(ratio >= TARGET_RATIO)})`);

  if (process.env.BENCH_NATS === '1') {
    const natsMeasured = await natsAppend(events.slice(0, natsEvents));
    report('append to JetStream (agent path)', natsMeasured, 'events');
  }
  console.log(`load average at the end: ${loadavg()[0]!.toFixed(2)}`);
} finally {
  await log.close();
  rmSync(dir, { recursive: true, force: true });
}
