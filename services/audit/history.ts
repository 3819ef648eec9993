// "What happened to this service (or name)": every event in a range that
// touched it, with what changed in its objects and in its DNS records.
import type { EventLog } from '../../shared/eventLog.js';
import { isSyncEvent, type ChangeEvent } from '../../shared/events.js';
import { lineChange, linesOf, objectChanges, owningService, parseServiceRef, recordLines, relativeName, type ObjectChange, type RecordChange } from './records.js';
import { ReplayedState, type ServiceRef } from './state.js';
import { AuditInputError } from './time.js';

// A service, or one name (its records only) of the service that owns it.
export interface HistoryTarget {
  service: ServiceRef;
  name?: string; // absolute, with the trailing dot
}

// "NAMESPACE/SERVICE" or a DNS name under the zone (absolute or zone-relative).
export function parseHistoryTarget(text: string, zone: string): HistoryTarget {
  if (text.includes('/')) return { service: parseServiceRef(text) };
  const relative = relativeName(text, zone);
  const service = owningService(relative);
  if (!service) throw new AuditInputError(`${JSON.stringify(text)} is not a service's name: use NAMESPACE/SERVICE or a name ending in <svc>.<ns>.svc.${zone}`);
  return { service, name: `${relative}.${zone.replace(/\.$/, '')}.` };
}

export interface HistoryEntry {
  seq: number;
  time: string; // RFC 3339, when the log accepted the event
  cluster: string;
  event: string; // "upsert EndpointSlice prod/web-abc", "sync-end ServiceImport epoch 3"
  objects: ObjectChange[];
  dns: RecordChange;
}

// Events fromSeq..toSeq, oldest first, replayed from the newest checkpoint
// before the range (or from zero). A service no event touched and that held
// nothing before the range is unknown: an error, not an empty history.
export async function auditHistory(log: EventLog, target: HistoryTarget, fromSeq: number, toSeq: number, zone: string, checkpointDir?: string): Promise<HistoryEntry[]> {
  const justBefore = Math.max(0, fromSeq - 1);
  const state = ReplayedState.nearest(checkpointDir, justBefore);
  try {
    await state.advance(log, justBefore);
    const existedBefore = state.service(target.service).objects.size > 0;
    const entries: HistoryEntry[] = [];
    await state.advance(log, toSeq, {
      service: target.service,
      onEvent: ({ stored, event, before, after }) => {
        let was = recordLines(before.records, zone);
        let is = recordLines(after.records, zone);
        if (target.name) {
          was = linesOf(was, target.name);
          is = linesOf(is, target.name);
          if (was.join('\n') === is.join('\n')) return;
        }
        entries.push({
          seq: stored.seq,
          time: stored.time.toISOString(),
          cluster: stored.cluster,
          event: describeEvent(event),
          objects: objectChanges(before.objects, after.objects),
          dns: lineChange(was, is),
        });
      },
    });
    if (entries.length === 0 && !existedBefore) {
      const what = target.name ?? `service ${target.service.namespace}/${target.service.name}`;
      throw new AuditInputError(`no event from seq ${fromSeq} to ${toSeq} touched ${what}, and it had no records before: unknown name`);
    }
    return entries;
  } finally {
    state.close();
  }
}

export function describeEvent(e: ChangeEvent): string {
  if (isSyncEvent(e)) return `${e.op} ${e.kind} epoch ${e.epoch}`;
  return `${e.op} ${e.kind} ${e.namespace}/${e.name}`;
}

export function renderHistory(entries: HistoryEntry[]): string {
  const lines: string[] = [];
  for (const e of entries) {
    lines.push(`${e.time}  seq ${e.seq}  cluster ${e.cluster}  ${e.event}`);
    for (const o of e.objects) {
      lines.push(`    ${o.change} ${o.object}`);
      if (o.change === 'changed') for (const f of o.fields) lines.push(`      ${f.field}: ${fieldValue(f, 'from')} -> ${fieldValue(f, 'to')}`);
    }
    for (const r of e.dns.removed) lines.push(`    - ${r}`);
    for (const r of e.dns.added) lines.push(`    + ${r}`);
  }
  return lines.length === 0 ? 'no changes\n' : `${lines.join('\n')}\n`;
}

function fieldValue(f: { from?: unknown; to?: unknown }, which: 'from' | 'to'): string {
  return which in f ? JSON.stringify(f[which]) : '(none)';
}
