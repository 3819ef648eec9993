// npm run bench:replay: a generated log of BENCH_EVENTS (default 1,000,000)
// events in the embedded log; prints the replay rate, and the time to rebuild
// and to answer `audit resolve` at a moment in the middle, with and without a
// checkpoint. Numbers only; nothing here fails for being slow.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Aggregator } from '../services/aggregator/aggregator.js';
import { listCheckpoints } from '../services/aggregator/checkpoints.js';
import { replayTo } from '../services/audit/replay.js';
import { auditResolve, parseQueryType } from '../services/audit/resolve.js';
import { eventId, KINDS, type ChangeEvent } from '../shared/events.js';
import { SqliteEventLog } from '../shared/sqliteEventLog.js';

const total = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const services = Number(process.env.BENCH_SERVICES ?? 20_000);
const clusters = ['east', 'west', 'north'];
const dir = mkdtempSync(join(tmpdir(), 'mcsdns-bench-replay-'));
const observedAt = new Date().toISOString();

function sync(cluster: string, op: 'sync-begin' | 'sync-end'): ChangeEvent[] {
  return KINDS.map((kind) => ({ v: 1, cluster, kind, op, epoch: 1, kinds: [...KINDS], observedAt }));
}

// Event i: a ServiceImport of one service in one cluster gets a new IP; every
// fourth service is headless and its slice changes instead.
function change(i: number): ChangeEvent {
  const cluster = clusters[i % clusters.length]!;
  const s = Math.floor(i / clusters.length) % services;
  const name = `svc-${s}`;
  const ref = { v: 1 as const, cluster, namespace: `ns-${s % 50}`, uid: `${cluster}-${name}`, resourceVersion: String(i), observedAt, epoch: 1, op: 'upsert' as const };
  if (s % 4 === 0) {
    return {
      ...ref,
      kind: 'EndpointSlice',
      name: `${name}-${cluster}`,
      object: {
        serviceName: name,
        sourceCluster: cluster,
        addressType: 'IPv4',
        endpoints: [0, 1, 2].map((e) => ({ addresses: [`10.${e}.${(i >> 8) & 255}.${i & 255}`], hostname: `${name}-${e}`, ready: (i + e) % 5 !== 0 })),
        ports: [{ name: 'http', protocol: 'TCP', port: 80 }],
      },
    };
  }
  return {
    ...ref,
    kind: 'ServiceImport',
    name,
    object: { type: s % 4 === 1 ? 'Headless' : 'ClusterSetIP', ips: [`10.96.${(i >> 8) & 255}.${i & 255}`], ports: [{ name: 'http', protocol: 'TCP', port: 80 }] },
  };
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

const log = SqliteEventLog.open(join(dir, 'events.db'));
try {
  let t = performance.now();
  const head = clusters.flatMap((c) => sync(c, 'sync-begin'));
  const tail = clusters.flatMap((c) => sync(c, 'sync-end'));
  await log.append(head.map((e) => ({ id: eventId(e), cluster: e.cluster, payload: JSON.stringify(e) })));
  const BATCH = 10_000;
  for (let i = 0; i < total; i += BATCH) {
    const events = Array.from({ length: Math.min(BATCH, total - i) }, (_, k) => change(i + k));
    await log.append(events.map((e) => ({ id: eventId(e), cluster: e.cluster, payload: JSON.stringify(e) })));
  }
  await log.append(tail.map((e) => ({ id: eventId(e), cluster: e.cluster, payload: JSON.stringify(e) })));
  const end = await log.lastSeq();
  console.log(`generated ${end} events (${services} services, ${clusters.length} clusters) in ${seconds(performance.now() - t)}`);

  t = performance.now();
  await replayTo(log, join(dir, 'full.db'), end);
  const replayMs = performance.now() - t;
  console.log(`replay of ${end} events: ${seconds(replayMs)}, ${Math.round(end / (replayMs / 1000))} events/s (target: 1,000,000 in under 30 s)`);

  // The aggregator with checkpoints every tenth of the log, as it would run live.
  const checkpointDir = join(dir, 'checkpoints');
  t = performance.now();
  const aggregator = Aggregator.open({ log, dbPath: join(dir, 'live.db'), checkpoints: { dir: checkpointDir, every: Math.ceil(end / 10), keep: 20 } });
  await aggregator.start();
  await aggregator.waitForSeq(end, 3_600_000);
  await aggregator.stop();
  console.log(`aggregator with checkpoints: ${seconds(performance.now() - t)} (${listCheckpoints(checkpointDir).length} checkpoints)`);

  const mid = Math.floor(end / 2) + 7;
  t = performance.now();
  await replayTo(log, join(dir, 'mid-zero.db'), mid);
  const zeroMs = performance.now() - t;
  t = performance.now();
  const fromCheckpoint = await replayTo(log, join(dir, 'mid-checkpoint.db'), mid, { checkpointDir });
  const checkpointMs = performance.now() - t;
  console.log(`replay to seq ${mid}: from zero ${seconds(zeroMs)}, from the checkpoint at ${fromCheckpoint.fromCheckpoint} ${seconds(checkpointMs)}`);

  const question = { name: 'svc-2.ns-2.svc.clusterset.local', type: parseQueryType('A'), point: { seq: mid, time: undefined }, zone: 'clusterset.local', ttl: 5 };
  for (const [how, dir] of [['from zero', undefined], ['from checkpoints', checkpointDir]] as const) {
    t = performance.now();
    const answer = await auditResolve(log, question, dir);
    console.log(`audit resolve at seq ${mid} ${how}: ${seconds(performance.now() - t)}, ${answer.rcode} ${answer.answer.map((r) => r.data).join(' ')}, last changed at seq ${answer.lastChange?.seq}`);
  }
} finally {
  await log.close();
  rmSync(dir, { recursive: true, force: true });
}
