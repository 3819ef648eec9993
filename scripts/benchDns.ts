// npm run bench:dns: one generated clusterset served by mcsdns (the built
// `mcsdns frontend`, following the view over NATS, with --workers 1 and 2),
// by NSD from a zone file of the same view, and by a bare node:dgram ceiling;
// checks that they answer alike, then measures each with dnsperf: server on
// CPU 0, dnsperf on CPU 1. Prints a table and the ratios to the targets and
// writes docs/bench-dns.json and docs/bench-dns.svg. Never fails for being slow.
//
// Sizes: BENCH_SERVICES (20000), BENCH_CLUSTERS (3), BENCH_HEADLESS (share,
// 0.2), BENCH_ENDPOINTS (per headless service and cluster, 3), BENCH_SEED (1),
// BENCH_SECONDS (per run, 10), BENCH_LOAD_QPS (latency mode, 20000),
// BENCH_QUERIES (lines of the query file, 100000), BENCH_OUTSTANDING (dnsperf
// -q, 100), BENCH_ROUNDS (throughput runs per server taken in turns, the best
// kept, so that a busy machine's noise hits every server alike; 2),
// BENCH_CHECK (questions compared, 500), BENCH_WORKERS (mcsdns worker counts,
// "1,2"). BENCH_PROFILE=DIR: CPU profiles of the mcsdns processes there.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus as cpuList, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { connectNats } from '../shared/nats.js';
import { silentLogger } from '../shared/logger.js';
import { NatsViewPublisher } from '../shared/viewDistribution.js';
import type { DnsView, ViewFeed } from '../shared/view.js';
import { NatsServer } from '../test/support/natsServer.js';
import { mcsdnsMain } from '../test/support/mcsdnsProcess.js';
import { absolute, compareAnswers, waitForAnswers, type Server } from './bench/answerCheck.js';
import { ceilingResponses } from './bench/ceilingResponses.js';
import { benchChart } from './bench/chart.js';
import { checkSample, generateClusterset, questionMix, type ClustersetSpec } from './bench/clusterset.js';
import { runDnsperf, type DnsperfResult } from './bench/dnsperf.js';
import { startNsd } from './bench/nsd.js';
import { freeUdpTcpPort } from './bench/ports.js';
import { spawnPinned, treeMemory, type Child, type Memory } from './bench/processes.js';
import { int, printRatios, printTable, ratiosOf, type Measured } from './bench/report.js';
import { zoneFile } from './bench/zoneFile.js';
import { envNumber } from './bench/env.js';

const spec: ClustersetSpec = {
  services: envNumber('BENCH_SERVICES', 20_000),
  clusters: envNumber('BENCH_CLUSTERS', 3),
  headlessShare: envNumber('BENCH_HEADLESS', 0.2),
  endpoints: envNumber('BENCH_ENDPOINTS', 3),
  seed: envNumber('BENCH_SEED', 1),
};
const seconds = envNumber('BENCH_SECONDS', 10);
const loadQps = envNumber('BENCH_LOAD_QPS', 20_000);
const queryCount = envNumber('BENCH_QUERIES', 100_000);
const checkCount = envNumber('BENCH_CHECK', 500);
const outstanding = envNumber('BENCH_OUTSTANDING', 100);
const rounds = envNumber('BENCH_ROUNDS', 2);
const workerCounts = (process.env.BENCH_WORKERS ?? '1,2').split(',').map(Number);
const profileArgs = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
const ZONE = 'clusterset.local';
const TTL = 5;
const SERVER_CPU = '0';
const LOAD_CPU = '1';
const START_TIMEOUT_MS = 60_000;

interface Contender extends Server {
  label: string;
  child: Child;
  cpus: string;
}


const missing = ['nsd', 'dnsperf', 'taskset', 'nats-server'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
if (missing.length > 0) {
  console.error(`bench:dns needs ${missing.join(', ')} (Debian: apt-get install -y nsd dnsperf util-linux nats-server)`);
  process.exit(1);
}

const dir = mkdtempSync(join(tmpdir(), 'mcsdns-bench-dns-'));
const running: Child[] = [];
let nats: NatsServer | undefined;
let publisher: NatsViewPublisher | undefined;
let closeNats: (() => Promise<void>) | undefined;

// nsd -v prints to stderr.
function nsdVersion(): string {
  const run = spawnSync('nsd', ['-v'], { encoding: 'utf8' });
  return /NSD version ([\d.]+)/.exec(`${run.stdout}${run.stderr}`)?.[1] ?? '?';
}

// A view feed that only ever has this one snapshot.
const fixedFeed = (view: DnsView): ViewFeed => ({
  subscribe: (listener) => {
    listener.snapshot(view);
    return () => {};
  },
});

async function startContender(name: string, label: string, cpus: string, tcp: boolean, start: (port: number) => Child): Promise<Contender> {
  const port = await freeUdpTcpPort();
  const child = start(port);
  running.push(child);
  const contender = { name, label, cpus, port, tcp, child };
  try {
    await waitForAnswers(contender, ZONE, START_TIMEOUT_MS);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${child.output.slice(-10).join('\n')}`);
  }
  return contender;
}

// Throughput in `rounds` turns over every server, keeping each one's best;
// then latency at the fixed load, once each.
async function measureAll(contenders: Contender[], queryFile: string): Promise<Measured[]> {
  const best = new Map<Contender, { throughput: DnsperfResult; memory: Memory }>();
  for (let round = 1; round <= rounds; round++) {
    for (const c of contenders) {
      console.log(`throughput of ${c.label}${rounds > 1 ? `, round ${round} of ${rounds}` : ''} ...`);
      const throughput = await runDnsperf({ port: c.port, queryFile, seconds, cpus: LOAD_CPU, outstanding });
      const memory = treeMemory(c.child.process.pid!);
      if (throughput.qps > (best.get(c)?.throughput.qps ?? -1)) best.set(c, { throughput, memory });
    }
  }
  const out: Measured[] = [];
  for (const c of contenders) {
    console.log(`latency of ${c.label} at ${int(loadQps)} queries/s ...`);
    const latency = await runDnsperf({ port: c.port, queryFile, seconds, cpus: LOAD_CPU, maxQps: loadQps, perQuery: true });
    out.push({ name: c.name, label: c.label, cpus: c.cpus, ...best.get(c)!, latency });
  }
  return out;
}

try {
  const started = Date.now();
  const set = generateClusterset(spec);
  const names = set.serviceNames.length + set.srvNames.length + set.endpointNames.length;
  console.log(`clusterset: ${int(spec.services)} services (${Object.keys(set.view.services).length} with names), ${spec.clusters} clusters, headless share ${spec.headlessShare}, ${spec.endpoints} endpoints per headless service and cluster: ${int(names)} names`);
  const mix = questionMix(set, queryCount, spec.seed + 1);
  const sample = checkSample(set, checkCount, spec.seed + 2);
  const queryFile = join(dir, 'queries.txt');
  writeFileSync(queryFile, mix.map((q) => `${absolute(q.name, ZONE)} ${q.type}`).join('\n') + '\n');
  const responsesFile = join(dir, 'ceiling.responses');
  writeFileSync(responsesFile, ceilingResponses(set.view, ZONE, TTL, [...sample, ...mix]));
  const nsdDir = join(dir, 'nsd');
  mkdirSync(nsdDir);

  nats = await NatsServer.start();
  const nc = await connectNats({ servers: [nats.url] }, silentLogger);
  closeNats = () => nc.close();
  publisher = await NatsViewPublisher.start(nc, fixedFeed(set.view), {}, silentLogger);

  const nsdLabel = `NSD ${nsdVersion()}`;
  const contenders: Contender[] = [
    await startContender('ceiling', 'bare node:dgram ceiling', SERVER_CPU, false, (port) => spawnPinned(SERVER_CPU, process.execPath, [join(import.meta.dirname, 'bench/ceilingServer.js'), responsesFile, String(port)])),
    await startContender('nsd', nsdLabel, SERVER_CPU, true, (port) => startNsd(nsdDir, port, ZONE, zoneFile(set.view, ZONE, TTL), SERVER_CPU)),
  ];
  for (const workers of workerCounts) {
    // With more workers than CPU 0, the server also gets CPU 1, where dnsperf runs.
    const cpus = workers > 1 ? `${SERVER_CPU},${LOAD_CPU}` : SERVER_CPU;
    const label = workers > 1 ? `mcsdns --workers ${workers} (CPUs ${cpus}!)` : `mcsdns frontend`;
    contenders.push(
      await startContender(`mcsdns-${workers}`, label, cpus, true, (port) =>
        spawnPinned(cpus, process.execPath, [...profileArgs, mcsdnsMain, 'frontend', '--nats', nats!.url, '--zone', ZONE, '--ttl', String(TTL), '--dns-listen', `127.0.0.1:${port}`, '--workers', String(workers)], { MCSDNS_LOG_LEVEL: 'warn' }),
      ),
    );
  }

  // mcsdns first: the answers the others are held to.
  const checked = [...contenders.filter((c) => c.name.startsWith('mcsdns')), ...contenders.filter((c) => !c.name.startsWith('mcsdns'))];
  const mismatches = await compareAnswers(checked, sample, ZONE);
  if (mismatches.length > 0) {
    console.error(`answers differ on ${mismatches.length} of ${sample.length} questions:`);
    for (const m of mismatches.slice(0, 20)) console.error(`${m.question}\n${m.answers.map((a, i) => `  ${checked[i]!.label}: ${a}`).join('\n')}`);
    process.exitCode = 1;
  } else {
    console.log(`answers alike on ${sample.length} questions across ${checked.length} servers; ${int(queryCount)} queries in the dnsperf file, ${seconds} s per run`);
    const results = await measureAll(contenders, queryFile);
    printTable(results, { outstanding, rounds, loadQps });
    const ratios = ratiosOf(results);
    printRatios(ratios);
    if (workerCounts.some((w) => w > 1)) console.log('(--workers 2 runs on both CPUs, sharing CPU 1 with dnsperf: not one core against one core)');
    const docs = join(process.cwd(), 'docs');
    mkdirSync(docs, { recursive: true });
    const ceilingQps = results.find((r) => r.name === 'ceiling')!.throughput.qps;
    const machine = `${availableParallelism()} × ${cpuList()[0]?.model ?? 'CPU'}, node ${process.version}`;
    writeFileSync(join(docs, 'bench-dns.json'), JSON.stringify({ at: new Date(started).toISOString(), machine, spec, seconds, outstanding, rounds, loadQps, queryCount, results, ratios }, null, 2) + '\n');
    writeFileSync(
      join(docs, 'bench-dns.svg'),
      benchChart(
        `mcsdns vs ${nsdLabel} vs bare Node, ${int(spec.services)} services × ${spec.clusters} clusters`,
        results.map((r) => ({ label: r.label, ratioToCeiling: r.throughput.qps / ceilingQps, latencyMs: { avg: r.latency.avgMs, ...r.latency.percentilesMs, max: r.latency.maxMs } })),
        `${int(loadQps)} queries/s`,
      ),
    );
    console.log('\nwrote docs/bench-dns.json and docs/bench-dns.svg');
  }
} finally {
  for (const child of running.reverse()) await child.stop();
  await publisher?.stop();
  await closeNats?.();
  await nats?.stop();
  rmSync(dir, { recursive: true, force: true });
}
