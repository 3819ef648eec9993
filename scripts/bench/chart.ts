// docs/bench-dns.svg, by hand: throughput of each server relative to the
// bare Node ceiling, and latency percentiles at a fixed load on a log scale.

export interface ChartRow {
  label: string;
  ratioToCeiling: number;
  latencyMs: Record<string, number>; // "avg", "p50", … "max"
}

const WIDTH = 860;
const ROW = 34;
const TOP = 56;
const LABEL = 170;
const PANEL = 250;
const GAP = 60;
const LOG_MIN = 0.01; // ms
const LOG_MAX = 1000;
const MARKS: Record<string, string> = { avg: '#111', p50: '#2b8a3e', p90: '#5c7cfa', p99: '#f08c00', 'p99.9': '#e8590c', max: '#c92a2a' };

const escape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
const fixed = (n: number): string => n.toFixed(1);

export function benchChart(title: string, rows: ChartRow[], latencyLoad: string): string {
  const height = TOP + rows.length * ROW + 50;
  const x0 = LABEL;
  const x1 = LABEL + PANEL + GAP;
  const maxRatio = Math.max(1.2, ...rows.map((r) => r.ratioToCeiling));
  const ratioX = (v: number): number => x0 + (v / maxRatio) * PANEL;
  const logX = (ms: number): number => x1 + ((Math.log10(Math.min(LOG_MAX, Math.max(LOG_MIN, ms))) - Math.log10(LOG_MIN)) / (Math.log10(LOG_MAX) - Math.log10(LOG_MIN))) * PANEL;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">${escape(title)}</text>`,
    `<text x="${x0}" y="${TOP - 12}">queries/s relative to the bare Node ceiling</text>`,
    `<text x="${x1}" y="${TOP - 12}">latency at ${escape(latencyLoad)} (ms, log scale)</text>`,
  ];
  rows.forEach((row, i) => {
    const y = TOP + i * ROW;
    out.push(`<text x="10" y="${y + 18}">${escape(row.label)}</text>`);
    out.push(`<rect x="${x0}" y="${y + 6}" width="${fixed(ratioX(row.ratioToCeiling) - x0)}" height="18" fill="#74c0fc"/>`);
    out.push(`<text x="${fixed(ratioX(row.ratioToCeiling) + 4)}" y="${y + 19}">${row.ratioToCeiling.toFixed(2)}</text>`);
    out.push(`<line x1="${x1}" x2="${x1 + PANEL}" y1="${y + 15}" y2="${y + 15}" stroke="#dee2e6"/>`);
    for (const [mark, ms] of Object.entries(row.latencyMs)) {
      if (!Number.isFinite(ms)) continue;
      out.push(`<circle cx="${fixed(logX(ms))}" cy="${y + 15}" r="5" fill="${MARKS[mark] ?? '#868e96'}"><title>${escape(`${row.label} ${mark} ${ms.toFixed(3)} ms`)}</title></circle>`);
    }
  });
  const bottom = TOP + rows.length * ROW;
  out.push(`<line x1="${ratioX(0.9)}" x2="${ratioX(0.9)}" y1="${TOP}" y2="${bottom}" stroke="#c92a2a" stroke-dasharray="4 3"/>`);
  out.push(`<text x="${ratioX(0.9) - 10}" y="${bottom + 14}" fill="#c92a2a">0.9</text>`);
  // The latency targets: average under 0.5 ms, max under 20 ms.
  for (const [ms, what] of [[0.5, 'avg'], [20, 'max']] as const) {
    out.push(`<line x1="${fixed(logX(ms))}" x2="${fixed(logX(ms))}" y1="${TOP}" y2="${bottom}" stroke="${MARKS[what]}" stroke-dasharray="4 3"/>`);
  }
  for (const v of [0, 0.5, 1]) out.push(`<text x="${fixed(ratioX(v) - 6)}" y="${bottom + 28}" fill="#495057">${v}</text>`);
  for (const ms of [0.01, 0.1, 1, 10, 100, 1000]) out.push(`<text x="${fixed(logX(ms) - 8)}" y="${bottom + 14}" fill="#495057">${ms}</text>`);
  Object.entries(MARKS).forEach(([mark, color], i) => {
    const x = x1 + i * 58;
    out.push(`<circle cx="${x + 5}" cy="${bottom + 32}" r="5" fill="${color}"/><text x="${x + 14}" y="${bottom + 36}">${mark}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
