// Runs Debian's dnsperf against a server and reads its report: throughput,
// loss, latency, and per query latencies when verbose (for percentiles).
import { spawn } from 'node:child_process';

export interface DnsperfRun {
  port: number;
  queryFile: string;
  seconds: number;
  cpus: string; // where dnsperf runs
  maxQps?: number; // -Q: fixed load instead of as fast as it goes
  outstanding?: number; // -q; default 100
  perQuery?: boolean; // -v: every query's latency, for percentiles
}

export interface DnsperfResult {
  sent: number;
  completed: number;
  lost: number;
  qps: number;
  avgMs: number;
  maxMs: number;
  stddevMs: number;
  perSecond: number[]; // queries/s of each 1 s interval (-S 1)
  percentilesMs: Record<string, number> | undefined; // with perQuery
}

const PERCENTILES = [50, 90, 99, 99.9] as const;

// dnsperf prints seconds to the microsecond.
const msOf = (seconds: number): number => Math.round(seconds * 1e6) / 1e3;

export function runDnsperf(run: DnsperfRun): Promise<DnsperfResult> {
  const args = ['-c', String(run.cpus), 'dnsperf', '-s', '127.0.0.1', '-p', String(run.port), '-d', run.queryFile, '-l', String(run.seconds), '-e', '-S', '1'];
  args.push('-q', String(run.outstanding ?? 100));
  if (run.maxQps !== undefined) args.push('-Q', String(run.maxQps));
  if (run.perQuery) args.push('-v');
  const child = spawn('taskset', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const latencies: number[] = [];
  let report = '';
  let partial = '';
  child.stdout.setEncoding('utf8').on('data', (data: string) => {
    const lines = (partial + data).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      // "> NOERROR name A 0.000123": one per answered query with -v
      if (line.startsWith('> ')) {
        const seconds = Number(line.slice(line.lastIndexOf(' ') + 1));
        if (Number.isFinite(seconds)) latencies.push(msOf(seconds)); // "> T …": timed out
      }
      else report += line + '\n';
    }
  });
  let errors = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (errors += d));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      report += partial;
      if (code !== 0) return reject(new Error(`dnsperf exited with ${code}: ${(errors || report).slice(-500)}`));
      try {
        resolve({ ...parseReport(report), percentilesMs: run.perQuery ? percentiles(latencies) : undefined });
      } catch (err) {
        reject(err);
      }
    });
  });
}

// The statistics dnsperf prints at the end, and its -S interval lines.
export function parseReport(text: string): Omit<DnsperfResult, 'percentilesMs'> {
  const number = (re: RegExp): number => {
    const m = re.exec(text);
    if (!m) throw new Error(`dnsperf report without ${re}: ${text.slice(-500)}`);
    return Number(m[1]);
  };
  const latency = /Average Latency \(s\):\s+([\d.]+) \(min [\d.]+, max ([\d.]+)\)/.exec(text);
  if (!latency) throw new Error(`dnsperf report without latencies: ${text.slice(-500)}`);
  // "1795917708.659398: 37744.687269"; the first interval starts before any answer.
  const perSecond = [...text.matchAll(/^\d+\.\d+: ([\d.]+)$/gm)].map((m) => Math.round(Number(m[1]))).slice(1);
  return {
    sent: number(/Queries sent:\s+(\d+)/),
    completed: number(/Queries completed:\s+(\d+)/),
    lost: number(/Queries lost:\s+(\d+)/),
    qps: Math.round(number(/Queries per second:\s+([\d.]+)/)),
    avgMs: msOf(Number(latency[1])),
    maxMs: msOf(Number(latency[2])),
    stddevMs: msOf(number(/Latency StdDev \(s\):\s+([\d.]+)/)),
    perSecond,
  };
}

function percentiles(latencies: number[]): Record<string, number> {
  const sorted = Float64Array.from(latencies).sort();
  const at = (p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
  return Object.fromEntries(PERCENTILES.map((p) => [`p${p}`, at(p)]));
}
