// Changes at a fixed rate and the time each takes to reach every frontend.
// Change n gives one "churn" service the address churnAddress(n), unique to
// it; the prober asks each frontend for that service until the answer holds
// change n or a later one (the same service may have changed again since).
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DnsProber } from './dnsProber.js';

export const CHURN_NAMESPACE = 'fresh';

// n (< 2^22) as an address in 100.64.0.0/10, and back.
export const churnAddress = (n: number) => `100.${64 + (n >>> 16)}.${(n >>> 8) & 255}.${n & 255}`;

function churnNumber(address: string): number {
  const [a, b, c, d] = address.split('.').map(Number);
  return a === 100 && b !== undefined && c !== undefined && d !== undefined ? ((b - 64) << 16) | (c << 8) | d : -1;
}

export interface ProbeResult {
  latencyMs: number; // from the API write to the newest of the frontends' first fresh answers
  perFrontendMs: number[];
}

export class FreshnessProbe {
  readonly results: ProbeResult[] = [];
  private readonly running = new Set<Promise<void>>();
  unfinished = 0;
  queries = 0;

  constructor(
    private readonly prober: DnsProber,
    private readonly ports: number[],
    private readonly pollMs: number,
    private readonly timeoutMs: number,
  ) {}

  // Follows change n, written at writtenAt (performance.now()), to every frontend.
  track(name: string, n: number, writtenAt: number): void {
    const probe = (async () => {
      const seen = await Promise.all(this.ports.map((port) => this.firstFresh(port, name, n, writtenAt)));
      if (seen.some((at) => at === undefined)) this.unfinished++;
      else this.results.push({ latencyMs: Math.max(...(seen as number[])) - writtenAt, perFrontendMs: (seen as number[]).map((at) => at - writtenAt) });
    })();
    this.running.add(probe);
    void probe.finally(() => this.running.delete(probe));
  }

  async settled(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
  }

  // When the frontend on `port` first answered change n or a later one.
  private async firstFresh(port: number, name: string, n: number, writtenAt: number): Promise<number | undefined> {
    while (performance.now() < writtenAt + this.timeoutMs) {
      this.queries++;
      const reply = await this.prober.query(port, name, 'A', 500);
      const numbers = (reply?.packet.answers ?? []).map((a) => (a.type === 'A' ? churnNumber(a.data) : -1));
      if (reply && numbers.some((m) => m >= n)) return reply.at;
      // Polls less often the longer it waits: the error stays within 5% of the latency.
      await sleep(Math.max(this.pollMs, (performance.now() - writtenAt) / 20));
    }
    return undefined;
  }
}

// Calls change(i) for i = 0 … rate × seconds − 1, spread evenly over the
// seconds (caught up every millisecond). Returns the achieved rate per second.
export async function driveAtRate(rate: number, seconds: number, change: (i: number) => void): Promise<number> {
  const total = Math.round(rate * seconds);
  const start = performance.now();
  let done = 0;
  while (done < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
    while (done < due) change(done++);
    await sleep(1);
  }
  return (total * 1000) / (performance.now() - start);
}
