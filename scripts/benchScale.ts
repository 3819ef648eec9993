// npm run bench:scale: (a) initial sync of a generated clusterset (3 clusters
// × 10,000 services, 100,000 endpoints) until every frontend answers a sample
// of names as the record model says, in embedded mode and in NATS mode;
// (b) cold start of one more frontend from the NATS object-store snapshot of
// that view: process start to first correct answer, and its RSS. Sizes from
// the environment; nothing here fails for being slow.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import { connect } from '@nats-io/transport-node';
import { clusterObjects, expectedNames, generateClusterset, type Clusterset } from './bench-cluster/clusterset.js';
import { DnsProber, expectedAnswer, isRight, whenAnswered, type Check } from './bench-cluster/dnsProber.js';
import { profileReport } from './bench-cluster/profileSummary.js';
import { summarize } from './bench-cluster/stats.js';
import { BenchProcesses, childPids, cpuSeconds, memoryOf, waitedChildrenCpuSeconds, startStandIns, stopStandIns, whenReady, type DnsEndpoint } from './bench-cluster/topology.js';
import { syncStages } from './bench-cluster/natsStages.js';
import { mcsdnsMain } from '../test/support/mcsdnsProcess.js';
import type { NatsServer } from '../test/support/natsServer.js';
import { envNumber } from './bench/env.js';
import { streamName } from '../shared/jetstreamEventLog.js';

const ZONE = 'clusterset.local';
const SYNC_TARGET_S = 10;
const COLD_START_TARGET_MS = 1000;
const TIMEOUT_MS = envNumber('SCALE_TIMEOUT_S', 300) * 1000;

const set = generateClusterset({
  clusters: ['east', 'west', 'north', 'south', 'central'].slice(0, envNumber('SCALE_CLUSTERS', 3)),
  services: envNumber('SCALE_SERVICES', 10_000),
  endpoints: envNumber('SCALE_ENDPOINTS', 100_000),
  headlessShare: envNumber('SCALE_HEADLESS_SHARE', 0.2),
  namespaces: envNumber('SCALE_NAMESPACES', 50),
  seed: envNumber('SCALE_SEED', 1),
});
const sampleServices = envNumber('SCALE_SAMPLE_SERVICES', 100);
const frontendCount = envNumber('SCALE_FRONTENDS', 3);
const coldRuns = envNumber('SCALE_COLD_RUNS', 3);
const modes = (process.env.SCALE_MODES ?? 'embedded,nats').split(',');

// Services spread over the whole set (the last one always), each with its
// A answer, one SRV name and one endpoint name when it has them.
function sampleChecks(clusterset: Clusterset, picks: number): Check[] {
  const services = clusterset.services;
  const chosen = new Set(Array.from({ length: picks }, (_, k) => services.length - 1 - Math.floor((k * services.length) / picks)));
  const checks: Check[] = [];
  for (const index of chosen) {
    const names = Object.entries(expectedNames(clusterset, services[index]!));
    const base = `${services[index]!.name}.${services[index]!.namespace}.svc`;
    const srv = names.find(([n]) => n.startsWith('_'));
    const endpoint = names.find(([n]) => !n.startsWith('_') && n !== base);
    for (const [name, type] of [[base, 'A'], [srv?.[0], 'SRV'], [endpoint?.[0], 'A']] as const) {
      const records = names.find(([n]) => n === name)?.[1];
      if (name && records) checks.push({ name: `${name}.${ZONE}`, type, answer: expectedAnswer(records, type, ZONE) });
    }
  }
  return checks;
}

function nameCount(clusterset: Clusterset): number {
  return clusterset.services.reduce((sum, s) => sum + Object.keys(expectedNames(clusterset, s)).length, 0);
}

const seconds = (fromMs: number, toMs: number) => `${((toMs - fromMs) / 1000).toFixed(2)} s`;
const verdict = (value: number, target: number) => `${value < target ? 'met' : 'MISSED'} (${(value / target).toFixed(2)} of the target)`;

async function embedded(procs: BenchProcesses, prober: DnsProber, checks: Check[], dir: string): Promise<void> {
  const startedAt = performance.now();
  const serve = await procs.serve(set.spec.clusters, dir);
  const servingAt = performance.now();
  const [answeredAt] = await whenAnswered(prober, [serve.dnsPort], checks, startedAt + TIMEOUT_MS);
  const memory = memoryOf(serve.process.pid);
  console.log(`  CPU serve used until then: ${cpuSeconds(serve.process.pid).toFixed(1)} s (a bound on the sync time of an otherwise idle machine)`);
  console.log(`embedded: serve started → listening ${seconds(startedAt, servingAt)}; → all ${checks.length} sample names right ${seconds(startedAt, answeredAt!)}`);
  console.log(`  initial sync target < ${SYNC_TARGET_S} s: ${verdict((answeredAt! - startedAt) / 1000, SYNC_TARGET_S)}; serve RSS ${memory?.rssMiB.toFixed(0)} MiB (peak ${memory?.peakMiB.toFixed(0)} MiB)`);
}

// The aggregator runs with its default snapshot cadence, as in production:
// no snapshot of the whole view on every second of the sync.
async function nats(procs: BenchProcesses, prober: DnsProber, checks: Check[], dir: string): Promise<void> {
  const server = await procs.startNats();
  await procs.aggregator(server, set.spec.clusters, dir);
  const frontends = await Promise.all(Array.from({ length: frontendCount }, (_, i) => procs.frontend(server, `frontend-${i}`)));
  await Promise.all(frontends.map((f) => f.ready));
  const running = () => [...procs.processes.map((p) => ({ name: p.name, pid: p.pid })), ...childPids('nats-server').map((pid) => ({ name: 'nats-server', pid }))];
  const cpuBefore = new Map(running().map(({ pid }) => [pid, cpuSeconds(pid)]));
  procs.restartProfiles();
  const [startedAt, startedAtWall] = [performance.now(), Date.now()];
  procs.agents(server, set.spec.clusters, dir);
  const answeredAt = await whenAnswered(prober, frontends.map((f) => f.dnsPort), checks, startedAt + TIMEOUT_MS);
  const last = Math.max(...answeredAt);
  console.log(`nats: aggregator and ${frontends.length} frontends running; agents started → all ${checks.length} sample names right on every frontend ${seconds(startedAt, last)}`);
  console.log(`  per frontend: ${answeredAt.map((at) => seconds(startedAt, at)).join(', ')}; initial sync target < ${SYNC_TARGET_S} s: ${verdict((last - startedAt) / 1000, SYNC_TARGET_S)}`);
  // Every cluster holds the same services, so the sample can be right before
  // the last agent's events are in: readiness says when all of them are.
  await Promise.all(frontends.map((f) => whenReady(f, TIMEOUT_MS)));
  const cpu = running().map(({ name, pid }) => ({ name, seconds: cpuSeconds(pid) - (cpuBefore.get(pid) ?? 0) }));
  const cpuText = cpu.map(({ name, seconds }) => `${name} ${seconds.toFixed(1)} s`).join(', ');
  console.log(`  every frontend ready (every cluster's first sync in its view) ${seconds(startedAt, performance.now())}`);
  console.log(`  CPU used from the agents' start until then: ${cpuText}; ${cpu.reduce((sum, { seconds }) => sum + seconds, 0).toFixed(1)} s in all`);
  const stages = await syncStages(server.url, startedAtWall);
  console.log(
    `  events: ${stages.events}, stored from ${(stages.firstEventMs / 1000).toFixed(2)} s to ${(stages.lastEventMs / 1000).toFixed(2)} s; ` +
      `view deltas: ${stages.deltaMessages} messages, ${(stages.deltaBytes / 1e6).toFixed(1)} MB, the last stored at ${(stages.lastDeltaMs / 1000).toFixed(2)} s`,
  );
  const memories = frontends.map((f) => memoryOf(f.process.pid)?.rssMiB.toFixed(0)).join(', ');
  console.log(`  frontend RSS ${memories} MiB`);
  if (coldRuns > 0) {
    await snapshotOfEverything(server, TIMEOUT_MS);
    await coldStarts(procs, server, prober, checks);
  }
}

// Waits for the aggregator's snapshot of the view with every event (at most its interval after the last change).
async function snapshotOfEverything(server: NatsServer, timeoutMs: number): Promise<void> {
  const nc = await connect({ servers: server.url });
  try {
    const lastSeq = (await jetstreamManager(nc).then((jsm) => jsm.streams.info(streamName('mcsdns', 'events')))).state.last_seq;
    const store = await new Objm(jetstream(nc)).open('mcsdns-snapshots');
    const deadline = performance.now() + timeoutMs;
    while (!(Number((await store.info('view'))?.metadata?.version) >= lastSeq)) {
      if (performance.now() > deadline) throw new Error(`no snapshot of the view at seq ${lastSeq} within ${timeoutMs} ms`);
      await sleep(250);
    }
  } finally {
    await nc.close();
  }
}

// One more frontend, again and again: from process start to its first correct answer.
async function coldStarts(procs: BenchProcesses, server: NatsServer, prober: DnsProber, checks: Check[]): Promise<void> {
  const first = checks[0]!;
  const times: number[] = [];
  const reference = commandLineLoad();
  console.log(`  reference: \`mcsdns --help\` (Node start and every module loaded) takes ${reference.ms.toFixed(0)} ms, ${reference.cpuMs.toFixed(0)} ms of CPU`);
  for (let run = 0; run < coldRuns; run++) {
    const [startedAt, startedAtWall] = [performance.now(), Date.now()];
    const frontend = await procs.frontend(server, `cold-${run}`);
    const answeredAt = await firstRightAnswer(prober, frontend, first, startedAt + TIMEOUT_MS);
    times.push(answeredAt - startedAt);
    const cpuAtAnswer = cpuSeconds(frontend.process.pid);
    await whenAnswered(prober, [frontend.dnsPort], checks, performance.now() + TIMEOUT_MS);
    // The frontend's own log says when each step ended.
    const step = async (re: RegExp) => JSON.parse(await frontend.process.waitForLine(re)) as { time: number; loadMs?: number; bytes?: number };
    const [connected, loaded, listening] = [await step(/connected to NATS/), await step(/view snapshot loaded/), await step(/DNS frontend listening/)];
    await sleep(1000);
    const memory = memoryOf(frontend.process.pid);
    console.log(
      `  cold start ${run + 1}: first right answer ${(answeredAt - startedAt).toFixed(0)} ms after process start (CPU used by then ${(cpuAtAnswer * 1000).toFixed(0)} ms); NATS connected at ${connected.time - startedAtWall} ms,` +
        ` snapshot (${((loaded.bytes ?? 0) / 1e6).toFixed(1)} MB) loaded at ${loaded.time - startedAtWall} ms (read and decoded in ${loaded.loadMs} ms), listening at ${listening.time - startedAtWall} ms;` +
        ` all sample names right; RSS ${memory?.rssMiB.toFixed(0)} MiB (peak ${memory?.peakMiB.toFixed(0)} MiB)`,
    );
    await frontend.process.kill('SIGTERM');
  }
  const median = summarize(times).p50;
  console.log(`  cold start median ${median.toFixed(0)} ms; target < ${COLD_START_TARGET_MS} ms: ${verdict(median, COLD_START_TARGET_MS)}`);
}

function commandLineLoad(): { ms: number; cpuMs: number } {
  const [startedAt, cpuAtStart] = [performance.now(), waitedChildrenCpuSeconds()];
  spawnSync(process.execPath, [mcsdnsMain, '--help'], { stdio: 'ignore' });
  return { ms: performance.now() - startedAt, cpuMs: (waitedChildrenCpuSeconds() - cpuAtStart) * 1000 };
}

// Asks every few milliseconds (nothing answers until the port opens).
async function firstRightAnswer(prober: DnsProber, frontend: DnsEndpoint, check: Check, deadline: number): Promise<number> {
  while (performance.now() < deadline) {
    const reply = await prober.queryWhole(frontend.dnsPort, check.name, check.type, 20);
    if (isRight(reply, check)) return reply!.at;
    await sleep(2);
  }
  throw new Error(`${frontend.name}: no right answer for ${check.name}`);
}

const names = nameCount(set);
const checks = sampleChecks(set, sampleServices);
console.log(
  `bench:scale: ${set.spec.clusters.length} clusters × ${set.services.length} services (${set.services.filter((s) => s.headless).length} headless), ` +
    `${set.spec.endpoints} endpoints (each cluster imports every service and holds every slice); ${names} names; sample ${checks.length}; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
);
const dir = mkdtempSync(join(tmpdir(), 'mcsdns-bench-scale-'));
const loadStart = performance.now();
const standIns = await startStandIns(set.spec.clusters, () => clusterObjects(set), dir);
console.log(`stand-in API servers loaded in ${seconds(loadStart, performance.now())}`);
const prober = await DnsProber.open();
try {
  for (const mode of modes) {
    const procs = new BenchProcesses();
    try {
      await (mode === 'embedded' ? embedded : nats)(procs, prober, checks, dir);
    } finally {
      await procs.stop();
    }
  }
} finally {
  prober.close();
  await stopStandIns(standIns);
  rmSync(dir, { recursive: true, force: true });
}
if (process.env.BENCH_PROFILE_DIR) for (const line of profileReport(process.env.BENCH_PROFILE_DIR)) console.log(line);
