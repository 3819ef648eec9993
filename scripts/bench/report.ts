// The benchmark's table and ratios, as printed.
import type { DnsperfResult } from './dnsperf.js';
import type { Memory } from './processes.js';

export interface Measured {
  name: string;
  label: string;
  cpus: string;
  throughput: DnsperfResult;
  memory: Memory;
  latency: DnsperfResult;
}

export const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const ms = (n: number | undefined): string => (n === undefined ? '-' : n.toFixed(3));
const mb = (kb: number): string => (kb / 1024).toFixed(1);
const pad = (s: string, n: number): string => s.padStart(n);

export function printTable(results: Measured[], run: { outstanding: number; rounds: number; loadQps: number }): void {
  const { outstanding, rounds, loadQps } = run;
  console.log(`\nthroughput (as fast as it goes, ${outstanding} queries outstanding${rounds > 1 ? `, best of ${rounds} rounds` : ''}):`);
  console.log(`${'server'.padEnd(34)}${pad('queries/s', 11)}${pad('avg ms', 9)}${pad('max ms', 9)}${pad('lost', 7)}${pad('RSS MB', 8)}${pad('PSS MB', 8)}  cpus`);
  for (const r of results) {
    const t = r.throughput;
    console.log(`${r.label.padEnd(34)}${pad(int(t.qps), 11)}${pad(ms(t.avgMs), 9)}${pad(ms(t.maxMs), 9)}${pad(int(t.lost), 7)}${pad(mb(r.memory.rssKb), 8)}${pad(mb(r.memory.pssKb), 8)}  ${r.cpus}`);
  }
  console.log('(RSS: the largest process of the server after the run; PSS: all its processes, shared pages counted once)');
  console.log(`\nlatency at a fixed ${int(loadQps)} queries/s (targets: avg < 0.5 ms, max < 20 ms):`);
  console.log(`${'server'.padEnd(34)}${pad('queries/s', 11)}${pad('avg', 8)}${pad('p50', 8)}${pad('p90', 8)}${pad('p99', 8)}${pad('p99.9', 8)}${pad('max', 9)}${pad('lost', 7)}`);
  for (const r of results) {
    const l = r.latency;
    const p = l.percentilesMs ?? {};
    console.log(`${r.label.padEnd(34)}${pad(int(l.qps), 11)}${pad(ms(l.avgMs), 8)}${pad(ms(p.p50), 8)}${pad(ms(p.p90), 8)}${pad(ms(p.p99), 8)}${pad(ms(p['p99.9']), 8)}${pad(ms(l.maxMs), 9)}${pad(int(l.lost), 7)}`);
  }
}

export interface Ratios {
  server: string;
  toCeiling: number; // target >= 0.9
  toNsd: number; // target >= 0.45
  memoryToNsd: number; // PSS; target <= 1.5
}

export function ratiosOf(results: Measured[]): Ratios[] {
  const ceiling = results.find((r) => r.name === 'ceiling')!;
  const nsd = results.find((r) => r.name === 'nsd')!;
  return results
    .filter((r) => r.name.startsWith('mcsdns'))
    .map((r) => ({
      server: r.label,
      toCeiling: r.throughput.qps / ceiling.throughput.qps,
      toNsd: r.throughput.qps / nsd.throughput.qps,
      memoryToNsd: r.memory.pssKb / nsd.memory.pssKb,
    }));
}

export function printRatios(ratios: Ratios[]): void {
  console.log('\nratios (targets: queries/s ≥ 0.9 of the ceiling and ≥ 0.45 of NSD; memory (PSS) ≤ 1.5 × NSD):');
  for (const r of ratios) {
    const mark = (ok: boolean): string => (ok ? 'met' : 'NOT met');
    console.log(
      `${r.server.padEnd(34)} /ceiling ${r.toCeiling.toFixed(2)} (${mark(r.toCeiling >= 0.9)})  /NSD ${r.toNsd.toFixed(2)} (${mark(r.toNsd >= 0.45)})  memory/NSD ${r.memoryToNsd.toFixed(2)} (${mark(r.memoryToNsd <= 1.5)})`,
    );
  }
}

