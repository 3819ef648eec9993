// npx tsx scripts/bench/snapshotCodec.ts: what a frontend's cold start pays
// to decode the view snapshot, per format and phase (gunzip, parse,
// validate), each decode in a fresh process as a frontend does it; and what
// the aggregator pays to encode it. The view is bench:scale's: the record
// model over a generated clusterset. Sizes from the environment
// (SNAPSHOT_SERVICES, SNAPSHOT_ENDPOINTS, SNAPSHOT_CLUSTERS,
// SNAPSHOT_HEADLESS_SHARE, SNAPSHOT_RUNS, SNAPSHOT_GZIP_LEVELS).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { generateClusterset } from '../bench-cluster/clusterset.js';
import { summarize } from '../bench-cluster/stats.js';
import { envNumber } from './env.js';
import { serviceRecordsByCluster } from '../../shared/recordModel.js';
import { copyView, serviceKey, type DnsView, type ServiceRecords } from '../../shared/view.js';
import { readView, writeView } from '../../shared/viewSnapshot.js';
import { isDnsView } from '../../shared/viewWire.js';
import { trimEndpointSlice, trimServiceImport } from '../../services/agent/trim.js';

type Phases = Record<string, number>;

function timed<T>(phases: Phases, phase: string, work: () => T): T {
  const started = performance.now();
  const result = work();
  phases[phase] = performance.now() - started;
  return result;
}

// In the child: one cold decode of the file, printed as JSON phase → ms.
function decodeOnce(format: string, file: string): void {
  const phases: Phases = {};
  const data = readFileSync(file);
  const cpuAtStart = process.cpuUsage();
  const bytes = timed(phases, 'gunzip', () => gunzipSync(data));
  let view: DnsView;
  if (format === 'json') {
    const text = timed(phases, 'utf8', () => bytes.toString('utf8'));
    const value: unknown = timed(phases, 'parse', () => JSON.parse(text));
    if (!timed(phases, 'validate', () => isDnsView(value))) throw new Error('not a view');
    view = value as DnsView;
  } else {
    view = timed(phases, 'read and validate', () => readView(bytes));
  }
  const cpu = process.cpuUsage(cpuAtStart);
  phases.total = Object.values(phases).reduce((a, b) => a + b, 0);
  phases['total CPU'] = (cpu.user + cpu.system) / 1000;
  timed(phases, '(then copyView)', () => copyView(view));
  console.log(JSON.stringify(phases));
}

function generatedView(): { view: DnsView; names: number } {
  const set = generateClusterset({
    clusters: ['east', 'west', 'north', 'south', 'central'].slice(0, envNumber('SNAPSHOT_CLUSTERS', 3)),
    services: envNumber('SNAPSHOT_SERVICES', 10_000),
    endpoints: envNumber('SNAPSHOT_ENDPOINTS', 100_000),
    headlessShare: envNumber('SNAPSHOT_HEADLESS_SHARE', 0.2),
    namespaces: 50,
    seed: 1,
  });
  const ids = set.spec.clusters;
  const services: Record<string, ServiceRecords> = {};
  let names = 0;
  for (const s of set.services) {
    const imported = trimServiceImport(s.importObject)!;
    const slices = s.slices.map((x) => trimEndpointSlice(x)!);
    const imports = ids.map((cluster) => ({ cluster, object: imported }));
    const { union } = serviceRecordsByCluster(s.namespace, s.name, imports, ids.flatMap((cluster) => slices.map((object) => ({ cluster, object }))), ids);
    if (!union) continue;
    services[serviceKey(s.namespace, s.name)] = union;
    names += Object.keys(union.names).length;
  }
  return { view: { version: 1, clusters: ids.map((id) => ({ id, synced: true })), namespaces: set.namespaces, services }, names };
}

function main(): void {
  const runs = envNumber('SNAPSHOT_RUNS', 5);
  const levels = (process.env.SNAPSHOT_GZIP_LEVELS ?? '1,6,9').split(',').map(Number);
  const { view, names } = generatedView();
  console.log(`view of ${Object.keys(view.services).length} services, ${names} names; medians of ${runs} cold decodes, each in a fresh process (ms)`);
  const encoded: { label: string; format: string; gzipped: Buffer }[] = [];
  const encode = (label: string, format: string, serialise: () => string | Buffer, level: number) => {
    const phases: Phases = {};
    const raw = timed(phases, 'serialise', serialise);
    const gzipped = timed(phases, 'gzip', () => gzipSync(raw, { level }));
    encoded.push({ label, format, gzipped });
    console.log(`${label}: ${mb(Buffer.byteLength(raw))}, gzipped ${mb(gzipped.length)}; encoding: serialise ${ms(phases.serialise!)} (on the event loop), gzip ${ms(phases.gzip!)} (off it)`);
  };
  encode('format 1 (JSON), gzip 1', 'json', () => JSON.stringify(view), 1);
  for (const level of levels) encode(`format 2 (binary), gzip ${level}`, 'binary', () => writeView(view), level);

  const dir = mkdtempSync(join(tmpdir(), 'mcsdns-snapshot-codec-'));
  try {
    const file = join(dir, 'snapshot');
    for (const { label, format, gzipped } of encoded) {
      writeFileSync(file, gzipped);
      const samples: Phases[] = [];
      for (let run = 0; run < runs; run++) {
        const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), 'decode', format, file], { encoding: 'utf8' });
        if (child.status !== 0) throw new Error(`decoding failed: ${child.stderr}`);
        samples.push(JSON.parse(child.stdout.trim().split('\n').at(-1)!) as Phases);
      }
      const phases = Object.keys(samples[0]!).map((p) => `${p} ${summarize(samples.map((s) => s[p]!)).p50.toFixed(0)}`);
      console.log(`${label}, decoding: ${phases.join(', ')}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(2)} MB`;
const ms = (n: number) => `${n.toFixed(0)} ms`;

if (process.argv[2] === 'decode') decodeOnce(process.argv[3]!, process.argv[4]!);
else main();
