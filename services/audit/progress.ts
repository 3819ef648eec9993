// Progress of a long replay: on a terminal, one bar redrawn in place; else a
// plain line every few seconds (logs and CI keep every line).

export interface ProgressOutput {
  isTTY?: boolean;
  write(text: string): void;
}

export interface ProgressReporter {
  update(done: number, total: number): void;
  finish(): void;
}

const BAR_WIDTH = 30;
const TTY_REDRAW_MS = 100;
const PLAIN_EVERY_MS = 5000;

// The pure part: what one report says.
export function progressLine(done: number, total: number, elapsedMs: number): string {
  const rate = elapsedMs > 0 ? (done * 1000) / elapsedMs : 0;
  const left = rate > 0 ? Math.ceil((total - done) / rate) : undefined;
  return `${done}/${total} events, ${Math.round(rate)} events/s, ${left === undefined ? 'time left unknown' : `${formatSeconds(left)} left`}`;
}

export function progressBar(done: number, total: number): string {
  const filled = total > 0 ? Math.round((BAR_WIDTH * Math.min(done, total)) / total) : BAR_WIDTH;
  return `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}]`;
}

function formatSeconds(s: number): string {
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function progressReporter(out: ProgressOutput, now: () => number = Date.now): ProgressReporter {
  const started = now();
  let shownAt = -Infinity;
  let last: [number, number] | undefined;
  const show = (done: number, total: number) => {
    const line = progressLine(done, total, now() - started);
    out.write(out.isTTY ? `\r${progressBar(done, total)} ${line}\x1b[K` : `replay: ${line}\n`);
    shownAt = now();
  };
  return {
    update(done, total) {
      last = [done, total];
      if (now() - shownAt >= (out.isTTY ? TTY_REDRAW_MS : PLAIN_EVERY_MS)) show(done, total);
    },
    finish() {
      if (last) show(...last);
      if (out.isTTY) out.write('\n');
    },
  };
}
