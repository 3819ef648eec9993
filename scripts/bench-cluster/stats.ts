// Percentiles of measured samples, and of a Prometheus histogram scraped
// from /metrics before and after a run.

export interface Summary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

// Nearest-rank percentiles.
export function summarize(values: number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
  return { count: sorted.length, p50: at(50), p90: at(90), p99: at(99), max: sorted.at(-1) ?? NaN };
}

export const ms = (value: number) => (Number.isFinite(value) ? `${value.toFixed(1)} ms` : 'n/a');

// A histogram's cumulative bucket counts by upper bound (seconds; Infinity for +Inf).
export type Buckets = Map<number, number>;

export function histogramBuckets(metricsText: string, name: string): Buckets {
  const buckets: Buckets = new Map();
  const line = new RegExp(`^${name}_bucket\\{(?:[^}]*,)?le="([^"]+)"[^}]*\\} (\\S+)$`, 'gm');
  for (const [, le, count] of metricsText.matchAll(line)) {
    const bound = le === '+Inf' ? Infinity : Number(le);
    buckets.set(bound, (buckets.get(bound) ?? 0) + Number(count));
  }
  return buckets;
}

export function bucketDifference(after: Buckets, before: Buckets): Buckets {
  return new Map([...after].map(([bound, count]) => [bound, count - (before.get(bound) ?? 0)]));
}

// The bucket bound below which a share p of the observations fall (an upper bound of the percentile).
export function bucketPercentile(buckets: Buckets, p: number): number {
  const bounds = [...buckets.keys()].sort((a, b) => a - b);
  const total = buckets.get(Infinity) ?? 0;
  if (total === 0) return NaN;
  return bounds.find((bound) => buckets.get(bound)! >= (p / 100) * total) ?? Infinity;
}

export function bucketSummary(buckets: Buckets): string {
  const count = buckets.get(Infinity) ?? 0;
  const le = (p: number) => {
    const bound = bucketPercentile(buckets, p);
    return Number.isFinite(bound) ? `≤ ${bound * 1000} ms` : bound === Infinity ? '> largest bucket' : 'n/a';
  };
  return `count ${count}, p50 ${le(50)}, p90 ${le(90)}, p99 ${le(99)}`;
}

export async function scrape(httpPort: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${httpPort}/metrics`);
  return response.text();
}
