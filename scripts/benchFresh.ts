// npm run bench:fresh: freshness, from a change written to a stand-in
// Kubernetes API server to the new answer on every frontend, at a fixed rate
// of changes, in embedded mode (`mcsdns serve`) and NATS mode (agents,
// aggregator, frontends as processes). Prints percentiles against the target
// (p99 < 100 ms) and what the frontends' own programming-latency histogram
// says. Sizes from the environment; nothing here fails for being slow.
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { clusterObjects, generateClusterset, namespaceObject, serviceImport, type KubeObject } from './bench-cluster/clusterset.js';
import { DnsProber, whenAnswered } from './bench-cluster/dnsProber.js';
import { CHURN_NAMESPACE, churnAddress, driveAtRate, FreshnessProbe } from './bench-cluster/freshness.js';
import { profileReport } from './bench-cluster/profileSummary.js';
import { natsStages } from './bench-cluster/natsStages.js';
import { bucketDifference, bucketSummary, histogramBuckets, ms, scrape, summarize, type Summary } from './bench-cluster/stats.js';
import { BenchProcesses, cpuSeconds, memoryOf, startStandIns, stopStandIns, whenReady, type DnsEndpoint } from './bench-cluster/topology.js';
import { envNumber } from './bench/env.js';

const ZONE = 'clusterset.local';
const TARGET_P99_MS = 100;
const HISTOGRAM = 'mcsdns_frontend_programming_latency_seconds';

const clusters = ['east', 'west', 'north', 'south', 'central'].slice(0, envNumber('FRESH_CLUSTERS', 3));
const rate = envNumber('FRESH_RATE', 1000);
const seconds = envNumber('FRESH_SECONDS', 10);
const sampleEvery = envNumber('FRESH_SAMPLE_EVERY', 10);
const churnServices = envNumber('FRESH_SERVICES', 1000);
const frontendCount = envNumber('FRESH_FRONTENDS', 3);
const pollMs = envNumber('FRESH_POLL_MS', 1);
const timeoutMs = envNumber('FRESH_TIMEOUT_MS', 30_000);
const modes = (process.env.FRESH_MODES ?? 'embedded,nats').split(',');
const background = generateClusterset({
  clusters,
  services: envNumber('FRESH_BACKGROUND_SERVICES', 2000),
  endpoints: envNumber('FRESH_BACKGROUND_ENDPOINTS', 10_000),
  headlessShare: 0.2,
  namespaces: 20,
  seed: 1,
});

// Churn service s is imported by one cluster only, so one API write changes its answer.
const owner = (s: number) => clusters[s % clusters.length]!;
const churnName = (s: number) => `churn-${s}`;
const churnImport = (s: number, n: number) => serviceImport(CHURN_NAMESPACE, churnName(s), 'ClusterSetIP', [churnAddress(n)]);

function objects(cluster: string): KubeObject[] {
  const churn = Array.from({ length: churnServices }, (_, s) => s).filter((s) => owner(s) === cluster);
  return [...clusterObjects(background), namespaceObject(CHURN_NAMESPACE), ...churn.map((s) => churnImport(s, 0))];
}

async function startMode(mode: string, procs: BenchProcesses, dir: string): Promise<{ endpoints: DnsEndpoint[]; natsUrl?: string }> {
  if (mode === 'embedded') return { endpoints: [await procs.serve(clusters, dir)] };
  const nats = await procs.startNats();
  await procs.aggregator(nats, clusters, dir);
  const frontends = await Promise.all(Array.from({ length: frontendCount }, (_, i) => procs.frontend(nats, `frontend-${i}`)));
  await Promise.all(frontends.map((f) => f.ready));
  procs.agents(nats, clusters, dir);
  return { endpoints: frontends, natsUrl: nats.url };
}

async function runMode(mode: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), `mcsdns-bench-fresh-${mode}-`));
  const procs = new BenchProcesses();
  const prober = await DnsProber.open();
  const standIns = await startStandIns(clusters, objects, dir);
  try {
    const startedAt = performance.now();
    const { endpoints, natsUrl } = await startMode(mode, procs, dir);
    // Synced: the last churn service of every cluster and the last background service answer.
    const lastChurn = clusters.map((_, c) => churnServices - 1 - ((churnServices - 1 - c) % clusters.length)).filter((s) => s >= 0);
    const checks = lastChurn.map((s) => ({ name: `${churnName(s)}.${CHURN_NAMESPACE}.svc.${ZONE}`, type: 'A' as const, answer: [`A ${churnAddress(0)}`] }));
    await Promise.all(endpoints.map((e) => whenReady(e, 180_000)));
    await whenAnswered(prober, endpoints.map((e) => e.dnsPort), checks, performance.now() + 180_000);
    console.log(`\n${mode}: ${endpoints.length} frontend(s) synced ${((performance.now() - startedAt) / 1000).toFixed(1)} s after start`);

    const before = await Promise.all(endpoints.map((e) => scrape(e.httpPort)));
    procs.restartProfiles();
    const cpuBefore = procs.processes.map((p) => cpuSeconds(p.pid));
    const drivenSince = Date.now();
    const probe = new FreshnessProbe(prober, endpoints.map((e) => e.dnsPort), pollMs, timeoutMs);
    const achieved = await driveAtRate(rate, seconds, (i) => {
      const s = i % churnServices;
      const writtenAt = performance.now();
      standIns.get(owner(s))!.upsert(churnImport(s, i + 1));
      if (i % sampleEvery === 0) probe.track(`${churnName(s)}.${CHURN_NAMESPACE}.svc.${ZONE}`, i + 1, writtenAt);
    });
    await probe.settled();
    const after = await Promise.all(endpoints.map((e) => scrape(e.httpPort)));
    report(endpoints, achieved, probe, before, after);
    const cpu = procs.processes.map((p, i) => `${p.name} ${(cpuSeconds(p.pid) - cpuBefore[i]!).toFixed(2)} s`);
    const changes = Math.round(rate * seconds);
    const total = procs.processes.reduce((sum, p, i) => sum + cpuSeconds(p.pid) - cpuBefore[i]!, 0);
    console.log(`  CPU used from the first change until every probe settled: ${cpu.join(', ')}; ${((total / changes) * 1e6).toFixed(0)} µs per change in all (nats-server not counted)`);
    if (natsUrl) {
      const stages = await natsStages(natsUrl, drivenSince);
      const line = (s: Summary) => `p50 ${ms(s.p50)}, p99 ${ms(s.p99)}, max ${ms(s.max)} (${s.count})`;
      console.log(`  stages from the streams: agent observed → event stored ${line(stages.observedToEvent)}; → view delta stored ${line(stages.observedToDelta)}`);
    }
  } finally {
    prober.close();
    await procs.stop();
    await stopStandIns(standIns);
    rmSync(dir, { recursive: true, force: true });
  }
}

function report(endpoints: DnsEndpoint[], achieved: number, probe: FreshnessProbe, before: string[], after: string[]): void {
  const all = summarize(probe.results.map((r) => r.latencyMs));
  const verdict = all.p99 < TARGET_P99_MS ? 'met' : 'MISSED';
  console.log(`  ${achieved.toFixed(0)} changes/s achieved; ${all.count} probed (every ${sampleEvery}th), ${probe.unfinished} not seen within ${timeoutMs} ms`);
  console.log(`  API write → fresh answer on every frontend: p50 ${ms(all.p50)}, p90 ${ms(all.p90)}, p99 ${ms(all.p99)}, max ${ms(all.max)}`);
  console.log(`  target p99 < ${TARGET_P99_MS} ms: ${verdict} (p99 / target = ${(all.p99 / TARGET_P99_MS).toFixed(2)})`);
  endpoints.forEach((e, i) => {
    const own = summarize(probe.results.map((r) => r.perFrontendMs[i]!));
    const histogram = bucketSummary(bucketDifference(histogramBuckets(after[i]!, HISTOGRAM), histogramBuckets(before[i]!, HISTOGRAM)));
    const memory = memoryOf(e.process.pid);
    console.log(`  ${e.name}: probed p50 ${ms(own.p50)}, p99 ${ms(own.p99)}; its programming-latency histogram (agent → applied): ${histogram}; RSS ${memory?.rssMiB.toFixed(0) ?? '?'} MiB`);
  });
  console.log(`  prober load: ${probe.queries} queries (${(probe.queries / seconds).toFixed(0)}/s over the run), polling every ${pollMs} ms, or every 5% of the time waited so far when longer`);
}

console.log(`bench:fresh: ${clusters.length} clusters; ${churnServices} churn services; background per cluster ${background.services.length} services, ${background.spec.endpoints} endpoints`);
console.log(`${rate} ServiceImport IP changes/s for ${seconds} s; every ${sampleEvery}th change probed on every frontend; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
for (const mode of modes) await runMode(mode);
if (process.env.BENCH_PROFILE_DIR) for (const line of profileReport(process.env.BENCH_PROFILE_DIR)) console.log(line);
