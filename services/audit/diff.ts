// "What answers differ between two moments": every name whose records differ.
import type { EventLog } from '../../shared/eventLog.js';
import type { DnsView } from '../../shared/view.js';
import { lineChange, recordLines, type RecordChange } from './records.js';
import { ReplayedState } from './state.js';
import { AuditInputError } from './time.js';

export interface NameDiff extends RecordChange {
  name: string; // absolute, with the trailing dot
}

// By name, sorted; names whose records are the same are left out.
export function viewDiff(before: DnsView, after: DnsView, zone: string): NameDiff[] {
  const was = linesByName(before, zone);
  const is = linesByName(after, zone);
  const names = [...new Set([...was.keys(), ...is.keys()])].sort();
  const out: NameDiff[] = [];
  for (const name of names) {
    const change = lineChange(was.get(name) ?? [], is.get(name) ?? []);
    if (change.added.length > 0 || change.removed.length > 0) out.push({ name, ...change });
  }
  return out;
}

function linesByName(view: DnsView, zone: string): Map<string, string[]> {
  const byName = new Map<string, string[]>();
  for (const records of Object.values(view.services)) {
    for (const line of recordLines(records, zone)) {
      const name = line.slice(0, line.indexOf(' '));
      byName.set(name, [...(byName.get(name) ?? []), line]);
    }
  }
  return byName;
}

// Replays from the newest checkpoint at or before fromSeq (or from zero).
export async function auditDiff(log: EventLog, fromSeq: number, toSeq: number, zone: string, checkpointDir?: string): Promise<NameDiff[]> {
  if (toSeq < fromSeq) throw new AuditInputError(`--to (seq ${toSeq}) is before --from (seq ${fromSeq})`);
  const state = ReplayedState.nearest(checkpointDir, fromSeq);
  try {
    await state.advance(log, fromSeq);
    const before = state.view();
    await state.advance(log, toSeq);
    return viewDiff(before, state.view(), zone);
  } finally {
    state.close();
  }
}

export function renderDiff(diffs: NameDiff[]): string {
  if (diffs.length === 0) return 'no differences\n';
  const lines = diffs.flatMap((d) => [d.name, ...d.removed.map((r) => `  - ${r}`), ...d.added.map((r) => `  + ${r}`)]);
  return `${lines.join('\n')}\n`;
}
