// Moments of the history as users write them, and where they fall in the
// event log. A point is a sequence when it is digits, optionally after `#`
// (`123`, `#123`); anything else is a time: RFC 3339 (`2025-06-01T12:00:00Z`),
// `now`, or relative to now (`-15m`, `-2d`).
import type { EventLog, StoredEvent } from '../../shared/eventLog.js';

export const TIME_FORMS = 'RFC 3339 (2025-06-01T12:00:00Z), now, or relative (-30s, -15m, -2h, -2d, -1w)';
export const POINT_FORMS = `a sequence (123 or #123) or a time: ${TIME_FORMS}`;

// Bad input (a malformed time, an unknown name, a point outside the log):
// the CLI's usage error, the HTTP API's 400.
export class AuditInputError extends Error {}

export type Point = { seq: number } | { time: Date };

// A point resolved against a log: the state after applying events 1..seq.
export interface LogPoint {
  seq: number;
  time: Date | undefined; // when the log accepted event seq; undefined for seq 0
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const RELATIVE = /^-(\d+)(s|m|h|d|w)$/;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
const SEQUENCE = /^#?(\d+)$/;

export function parseTime(text: string, now: Date): Date {
  const trimmed = text.trim();
  if (trimmed === 'now') return now;
  const relative = RELATIVE.exec(trimmed);
  if (relative) return new Date(now.getTime() - Number(relative[1]) * UNIT_MS[relative[2] as keyof typeof UNIT_MS]);
  const m = RFC3339.exec(trimmed);
  if (m && fieldsInRange(m)) {
    const ms = Date.parse(trimmed.replace(' ', 'T'));
    if (!Number.isNaN(ms)) return new Date(ms);
  }
  throw new AuditInputError(`invalid time ${JSON.stringify(text)}: use ${TIME_FORMS}`);
}

export function parsePoint(text: string, now: Date): Point {
  const seq = SEQUENCE.exec(text.trim());
  if (seq) {
    const n = Number(seq[1]);
    if (!Number.isSafeInteger(n)) throw new AuditInputError(`invalid sequence ${JSON.stringify(text)}: too large`);
    return { seq: n };
  }
  try {
    return { time: parseTime(text, now) };
  } catch {
    throw new AuditInputError(`invalid point ${JSON.stringify(text)}: use ${POINT_FORMS}`);
  }
}

// Date.parse rolls 2025-02-30 over into March; a typo must not become another day.
function fieldsInRange(m: RegExpExecArray): boolean {
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth && hour <= 23 && minute <= 59 && second <= 60;
}

// The log's first retained event, or an error when it holds none.
export async function firstEvent(log: EventLog): Promise<StoredEvent> {
  const [first] = await log.read(1, 1);
  if (!first) throw new Error('the event log is empty: there is no history to audit');
  return first;
}

// The last event at or before a point. A time before the first retained
// event, or a sequence outside the log, is an error naming what is available.
export async function resolvePoint(log: EventLog, point: Point): Promise<LogPoint> {
  const first = await firstEvent(log);
  const last = await log.lastSeq();
  if ('seq' in point) {
    if (point.seq < first.seq || point.seq > last) {
      throw new AuditInputError(`sequence ${point.seq} is not in the event log: it holds ${first.seq} to ${last}`);
    }
    return { seq: point.seq, time: (await log.read(point.seq, 1))[0]?.time };
  }
  if (point.time < first.time) {
    throw new AuditInputError(`${point.time.toISOString()} is before the event log's first retained event; the earliest available moment is ${first.time.toISOString()} (seq ${first.seq})`);
  }
  // The log's times have millisecond resolution: "at or before T" ends before the first event after it.
  const after = await log.seqAtTime(new Date(point.time.getTime() + 1));
  const seq = after === undefined ? last : after - 1;
  return { seq, time: (await log.read(seq, 1))[0]?.time };
}

// The first event of a range that starts at a point (inclusive): a sequence
// is itself, a time the first event accepted at or after it.
export async function resolveSince(log: EventLog, point: Point): Promise<number> {
  if ('seq' in point) return (await resolvePoint(log, point)).seq;
  await resolvePoint(log, point); // the same range checks as any time
  const seq = await log.seqAtTime(point.time);
  return seq ?? (await log.lastSeq()) + 1;
}
