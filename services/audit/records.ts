// Pure helpers of the audit answers: which service owns a name, DNS records
// as comparable lines, and what changed between two versions of an object.
import { isDeepStrictEqual } from 'node:util';
import { isDnsLabel } from '../../shared/events.js';
import type { ServiceRecords, ViewRecord } from '../../shared/view.js';
import type { ServiceObjects, ServiceRef } from './state.js';
import { AuditInputError } from './time.js';

// A name relative to the zone ("web.prod.svc"), from an absolute or relative one.
export function relativeName(name: string, zone: string): string {
  const lower = name.toLowerCase().replace(/\.$/, '');
  const apex = zone.toLowerCase().replace(/\.$/, '');
  if (lower === apex) return '';
  if (lower.endsWith(`.${apex}`)) return lower.slice(0, -apex.length - 1);
  if (lower.endsWith('.svc')) return lower;
  throw new AuditInputError(`${JSON.stringify(name)} is not a name in zone ${apex}`);
}

// Every name a service owns ends in "<svc>.<ns>.svc"; undefined for names above services.
export function owningService(relative: string): ServiceRef | undefined {
  const labels = relative.split('.');
  if (labels.length < 3 || labels.at(-1) !== 'svc') return undefined;
  const [name, namespace] = labels.slice(-3) as [string, string];
  if (!isDnsLabel(name) || !isDnsLabel(namespace)) return undefined;
  return { namespace, name };
}

// "NAMESPACE/SERVICE", both RFC 1123 labels.
export function parseServiceRef(text: string): ServiceRef {
  const m = /^([^/]+)\/([^/]+)$/.exec(text);
  if (!m || !isDnsLabel(m[1]!) || !isDnsLabel(m[2]!)) {
    throw new AuditInputError(`invalid service ${JSON.stringify(text)}: use NAMESPACE/SERVICE with RFC 1123 labels`);
  }
  return { namespace: m[1]!, name: m[2]! };
}

export function recordData(r: ViewRecord, zone: string): string {
  return r.type === 'SRV' ? `${r.priority} ${r.weight} ${r.port} ${absolute(r.target, zone)}` : r.address;
}

function absolute(relative: string, zone: string): string {
  return `${relative === '' ? '' : `${relative}.`}${zone.replace(/\.$/, '')}.`;
}

// "<absolute name> <TYPE> <data>", sorted: records as sets of lines to compare.
export function recordLines(records: ServiceRecords | undefined, zone: string): string[] {
  if (!records) return [];
  const lines: string[] = [];
  for (const [name, list] of Object.entries(records.names)) {
    for (const r of list) lines.push(`${absolute(name, zone)} ${r.type} ${recordData(r, zone)}`);
  }
  return lines.sort();
}

export interface RecordChange {
  added: string[];
  removed: string[];
}

export function lineChange(before: readonly string[], after: readonly string[]): RecordChange {
  const was = new Set(before);
  const is = new Set(after);
  return { added: after.filter((l) => !was.has(l)), removed: before.filter((l) => !is.has(l)) };
}

// The lines of one absolute name.
export function linesOf(lines: readonly string[], fqdn: string): string[] {
  return lines.filter((l) => l.startsWith(`${fqdn} `));
}

export interface FieldChange {
  field: string; // a path into the object, e.g. "endpoints[0].ready"
  from?: unknown; // absent: the field was added
  to?: unknown; // absent: the field was removed
}

export interface ObjectChange {
  object: string; // "<Kind> <cluster> <ns>/<name>"
  change: 'created' | 'deleted' | 'changed';
  fields: FieldChange[];
}

// The objects of a service that differ between two states, by key.
export function objectChanges(before: ServiceObjects, after: ServiceObjects): ObjectChange[] {
  const keys = [...new Set([...before.keys(), ...after.keys()])].sort();
  const out: ObjectChange[] = [];
  for (const key of keys) {
    const was = before.get(key);
    const is = after.get(key);
    if (isDeepStrictEqual(was, is)) continue;
    const change = was === undefined ? 'created' : is === undefined ? 'deleted' : 'changed';
    out.push({ object: key, change, fields: fieldChanges(was, is) });
  }
  return out;
}

// Leaf by leaf; arrays compare position by position.
export function fieldChanges(before: unknown, after: unknown): FieldChange[] {
  const was = leaves(before);
  const is = leaves(after);
  const paths = [...new Set([...was.keys(), ...is.keys()])].sort();
  const out: FieldChange[] = [];
  for (const field of paths) {
    const from = was.get(field);
    const to = is.get(field);
    if (was.has(field) && is.has(field) && isDeepStrictEqual(from, to)) continue;
    out.push({ field, ...(was.has(field) ? { from } : {}), ...(is.has(field) ? { to } : {}) });
  }
  return out;
}

function leaves(value: unknown, path = '', out = new Map<string, unknown>()): Map<string, unknown> {
  if (Array.isArray(value) && value.length > 0) value.forEach((v, i) => leaves(v, `${path}[${i}]`, out));
  else if (typeof value === 'object' && value !== null && Object.keys(value).length > 0) {
    for (const [k, v] of Object.entries(value)) leaves(v, path === '' ? k : `${path}.${k}`, out);
  } else if (value !== undefined && path !== '') out.set(path, value);
  return out;
}
