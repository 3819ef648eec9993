// "What did mcsdns answer for NAME TYPE at that moment": the view replayed to
// the point, compiled and answered by the frontend's own code.
import dnsPacket from 'dns-packet';
import type { EventLog } from '../../shared/eventLog.js';
import type { DnsView } from '../../shared/view.js';
import { compileAnswers } from '../frontend/answers.js';
import { respond } from '../frontend/respond.js';
import { RCODE } from '../frontend/wire.js';
import { linesOf, owningService, recordLines, relativeName } from './records.js';
import { checkpointsUpTo, mayBeTouched, ReplayedState, type ServiceRef } from './state.js';
import type { LogPoint } from './time.js';
import { AuditInputError } from './time.js';

export const QUERY_TYPES = ['A', 'AAAA', 'SRV', 'TXT', 'SOA', 'NS', 'ANY'] as const;
export type QueryType = (typeof QUERY_TYPES)[number];

export function parseQueryType(text: string | undefined): QueryType {
  const type = (text ?? 'A').toUpperCase();
  if (!(QUERY_TYPES as readonly string[]).includes(type)) throw new AuditInputError(`unsupported query type ${JSON.stringify(text)}: use one of ${QUERY_TYPES.join(', ')}`);
  return type as QueryType;
}

export interface AuditRecord {
  name: string;
  ttl: number;
  type: string;
  data: string; // as dig prints it
}

export interface DnsAnswer {
  rcode: string; // NOERROR, NXDOMAIN, SERVFAIL, REFUSED, …
  flags: string[]; // qr, aa, tc, …
  answer: AuditRecord[];
  authority: AuditRecord[];
  additional: AuditRecord[];
}

export interface EventRef {
  seq: number;
  time: string; // RFC 3339
}

export interface AuditAnswer extends DnsAnswer {
  name: string; // absolute, with the trailing dot
  type: QueryType;
  at: { seq: number; time: string | null };
  lastChange: EventRef | null; // the newest event at or before the point that changed this name's records
}

const RCODE_NAMES = new Map<number, string>(Object.entries(RCODE).map(([name, code]) => [code, name]));

// The response a frontend serving `view` gives (over TCP: never truncated).
export function answerFromView(view: DnsView, zone: string, ttl: number, fqdn: string, type: QueryType): DnsAnswer {
  const table = compileAnswers(view, [zone], ttl, { rotate: false });
  // dns-packet knows ANY (255) though its types leave it out.
  const query = dnsPacket.encode({ type: 'query', id: 1, flags: 0, questions: [{ type: type as dnsPacket.RecordType, name: fqdn, class: 'IN' }] });
  const response = respond(query, table, 'tcp');
  if (!response) throw new Error('the frontend gave no response');
  const decoded = dnsPacket.decode(response);
  const rcodeValue = (decoded.flags ?? 0) & 0x000f;
  const flags = (['qr', 'aa', 'tc', 'rd', 'ra'] as const).filter((f) => decoded[`flag_${f}`]);
  return {
    rcode: RCODE_NAMES.get(rcodeValue) ?? `RCODE${rcodeValue}`,
    flags,
    answer: (decoded.answers ?? []).map(auditRecord),
    authority: (decoded.authorities ?? []).map(auditRecord),
    additional: (decoded.additionals ?? []).filter((r) => r.type !== 'OPT').map(auditRecord),
  };
}

function auditRecord(r: dnsPacket.Answer): AuditRecord {
  const ttl = 'ttl' in r ? (r.ttl ?? 0) : 0;
  return { name: `${r.name}.`, ttl, type: r.type, data: recordText(r) };
}

function recordText(r: dnsPacket.Answer): string {
  switch (r.type) {
    case 'SRV':
      return `${r.data.priority ?? 0} ${r.data.weight ?? 0} ${r.data.port} ${r.data.target}.`;
    case 'SOA':
      return `${r.data.mname}. ${r.data.rname}. ${r.data.serial} ${r.data.refresh} ${r.data.retry} ${r.data.expire} ${r.data.minimum}`;
    case 'TXT': {
      const parts = Array.isArray(r.data) ? r.data : [r.data];
      return parts.map((p) => JSON.stringify(p.toString())).join(' ');
    }
    case 'NS':
      return `${r.data}.`;
    default:
      return 'data' in r ? String(r.data) : '';
  }
}

export interface ResolveRequest {
  name: string; // absolute ("web.prod.svc.clusterset.local") or zone-relative ("web.prod.svc")
  type: QueryType;
  point: LogPoint;
  zone: string;
  ttl: number;
}

// Replays from the newest checkpoint at or before the point (or from zero),
// noting the events that changed the name's records.
export async function auditResolve(log: EventLog, req: ResolveRequest, checkpointDir?: string): Promise<AuditAnswer> {
  const relative = relativeName(req.name, req.zone);
  const fqdn = `${relative === '' ? '' : `${relative}.`}${req.zone.replace(/\.$/, '')}.`;
  const name: WatchedName = { fqdn, zone: req.zone, service: owningService(relative) };
  const state = ReplayedState.nearest(checkpointDir, req.point.seq);
  const start = state.seq;
  let answer: DnsAnswer;
  let lastChange: EventRef | null;
  try {
    lastChange = await advanceNotingChanges(state, log, req.point.seq, name);
    answer = answerFromView(state.view(name.service), req.zone, req.ttl, fqdn, req.type);
  } finally {
    state.close();
  }
  return {
    name: fqdn,
    type: req.type,
    at: { seq: req.point.seq, time: req.point.time?.toISOString() ?? null },
    ...answer,
    // No change since the starting checkpoint: look before it.
    lastChange: lastChange ?? (await newestChangeUpTo(log, start, name, checkpointDir)),
  };
}

interface WatchedName {
  fqdn: string;
  zone: string;
  service: ServiceRef | undefined; // the service that owns it, if any
}

// Moves the state to `toSeq`; the newest event on the way that changed the name's records.
async function advanceNotingChanges(state: ReplayedState, log: EventLog, toSeq: number, name: WatchedName): Promise<EventRef | null> {
  let lastChange: EventRef | null = null;
  await state.advance(
    log,
    toSeq,
    name.service && {
      service: name.service,
      onEvent: ({ stored, before, after }) => {
        const was = linesOf(recordLines(before.records, name.zone), name.fqdn);
        const is = linesOf(recordLines(after.records, name.zone), name.fqdn);
        if (was.join('\n') !== is.join('\n')) lastChange = { seq: stored.seq, time: stored.time.toISOString() };
      },
    },
  );
  return lastChange;
}

// The newest change at or before `end`, going back one checkpoint interval at
// a time; an interval is replayed only when one of its events may touch the service.
async function newestChangeUpTo(log: EventLog, end: number, name: WatchedName, checkpointDir: string | undefined): Promise<EventRef | null> {
  if (!name.service) return null;
  while (end > 0) {
    const from = checkpointsUpTo(checkpointDir, end - 1).at(-1)?.seq ?? 0;
    if (!(await mayBeTouched(log, from + 1, end, name.service))) {
      end = from;
      continue;
    }
    const state = ReplayedState.nearest(checkpointDir, from);
    try {
      const start = state.seq;
      const change = await advanceNotingChanges(state, log, end, name);
      if (change) return change;
      end = start;
    } finally {
      state.close();
    }
  }
  return null;
}

// Dig's layout: header, question, answer, authority and additional sections.
export function renderAnswer(a: AuditAnswer): string {
  const section = (title: string, records: AuditRecord[]) =>
    records.length === 0 ? [] : ['', `;; ${title} SECTION:`, ...records.map((r) => `${r.name}\t${r.ttl}\tIN\t${r.type}\t${r.data}`)];
  const changed = a.lastChange ? `seq ${a.lastChange.seq} at ${a.lastChange.time}` : 'no event up to this point changed its records';
  return [
    `; mcsdns audit resolve ${a.name} ${a.type} at seq ${a.at.seq}${a.at.time ? ` (${a.at.time})` : ''}`,
    `;; ->>HEADER<<- opcode: QUERY, status: ${a.rcode}`,
    `;; flags: ${a.flags.join(' ')}; QUERY: 1, ANSWER: ${a.answer.length}, AUTHORITY: ${a.authority.length}, ADDITIONAL: ${a.additional.length}`,
    '',
    ';; QUESTION SECTION:',
    `;${a.name}\t\tIN\t${a.type}`,
    ...section('ANSWER', a.answer),
    ...section('AUTHORITY', a.authority),
    ...section('ADDITIONAL', a.additional),
    '',
    `;; last changed by: ${changed}`,
    '',
  ].join('\n');
}
