// npx tsx scripts/bench/snapshotCodec.ts: what a frontend's cold start pays
// to decode the view snapshot, per format and phase (gunzip, parse,
// validate), each decode in a fresh process as a frontend does it; for
// format 2 also read into a DnsView and then compiled (as frontends did) and
// read straight into the answer table (as they do); and what the aggregator
// pays to encode it. The view is bench:scale's: the record model over a
// generated clusterset. Sizes from the environment (SNAPSHOT_SERVICES,
// SNAPSHOT_ENDPOINTS, SNAPSHOT_CLUSTERS, SNAPSHOT_HEADLESS_SHARE,
// SNAPSHOT_RUNS, SNAPSHOT_GZIP_LEVELS).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { summarize } from '../bench-cluster/stats.js';
import { envNumber } from './env.js';
import { scaleView } from './scaleView.js';
import { readView, readViewInto, writeView } from '../../shared/viewSnapshot.js';
import { isDnsView } from '../../shared/viewWire.js';
import { answersBuilder, compileAnswers } from '../../services/frontend/answers.js';

type Phases = Record<string, number>;

function timed<T>(phases: Phases, phase: string, work: () => T): T {
  const started = performance.now();
  const result = work();
  phases[phase] = performance.now() - started;
  return result;
}

const ZONES = ['clusterset.local'];
const TTL = 5;

// How a child decodes: format 1; format 2 into a DnsView, into a view then
// compiled, or straight into the answer table.
const DECODINGS = { json: ['JSON'], binary: ['view', 'view, then compiled', 'into answers'] } as const;

// In the child: one cold decode of the file, printed as JSON phase → ms.
function decodeOnce(decoding: string, file: string): void {
  const phases: Phases = {};
  const data = readFileSync(file);
  const cpuAtStart = process.cpuUsage();
  const bytes = timed(phases, 'gunzip', () => gunzipSync(data));
  if (decoding === 'JSON') {
    const text = timed(phases, 'utf8', () => bytes.toString('utf8'));
    const value: unknown = timed(phases, 'parse', () => JSON.parse(text));
    if (!timed(phases, 'validate', () => isDnsView(value))) throw new Error('not a view');
  } else if (decoding === 'into answers') {
    timed(phases, 'read and compile', () => readViewInto(bytes, answersBuilder(ZONES, TTL, {}, [], () => undefined)));
  } else {
    const view = timed(phases, 'read and validate', () => readView(bytes));
    if (decoding !== 'view') timed(phases, 'compile', () => compileAnswers(view, ZONES, TTL));
  }
  const cpu = process.cpuUsage(cpuAtStart);
  phases.total = Object.values(phases).reduce((a, b) => a + b, 0);
  phases['total CPU'] = (cpu.user + cpu.system) / 1000;
  console.log(JSON.stringify(phases));
}

function main(): void {
  const runs = envNumber('SNAPSHOT_RUNS', 5);
  const levels = (process.env.SNAPSHOT_GZIP_LEVELS ?? '1,6,9').split(',').map(Number);
  const { view, names } = scaleView('SNAPSHOT');
  console.log(`view of ${Object.keys(view.services).length} services, ${names} names; medians of ${runs} cold decodes, each in a fresh process (ms)`);
  const encoded: { label: string; format: keyof typeof DECODINGS; gzipped: Buffer }[] = [];
  const encode = (label: string, format: keyof typeof DECODINGS, serialise: () => string | Buffer, level: number) => {
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
      for (const decoding of DECODINGS[format]) {
        const samples: Phases[] = [];
        for (let run = 0; run < runs; run++) {
          const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), 'decode', decoding, file], { encoding: 'utf8' });
          if (child.status !== 0) throw new Error(`decoding failed: ${child.stderr}`);
          samples.push(JSON.parse(child.stdout.trim().split('\n').at(-1)!) as Phases);
        }
        const phases = Object.keys(samples[0]!).map((p) => `${p} ${summarize(samples.map((s) => s[p]!)).p50.toFixed(0)}`);
        console.log(`${label}, decoding (${decoding}): ${phases.join(', ')}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(2)} MB`;
const ms = (n: number) => `${n.toFixed(0)} ms`;

if (process.argv[2] === 'decode') decodeOnce(process.argv[3]!, process.argv[4]!);
else main();
