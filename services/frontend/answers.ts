// The answer model: every response the frontend can give, compiled from the
// DNS view into the wire-format records that follow the question, per zone,
// name and type (DESIGN.md, "DNS semantics"). Deltas recompile only the
// services they touch. No sockets here.

import { allSynced, type DnsView, type ServiceRecords, type ViewDelta, type ViewRecord } from '../../shared/view.js';
import { TailWriter } from './tailWriter.js';
import { CLASS_IN, FLAG, MAX_NAME_LENGTH, RCODE, TYPE, isLabelStart, nameKey } from './wire.js';

const VERSION_NAME = 'dns-version';
const VERSION_TEXT = '1.0.0';
const VERSION_TTL = 28800;
const NAMESERVER = 'ns.dns';
const HOSTMASTER = 'hostmaster';
const SOA_TIMERS = { refresh: 7200, retry: 1800, expire: 86400 };
const SERVICES_NAME = 'svc';
const MAX_TTL = 2 ** 31 - 1; // RFC 2181 §8
// View names are Kubernetes names, port names and cluster ids: anything else
// could not be written as labels and is left out.
const VALID_NAME = /^[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})*$/;
// Compiling is synchronous, so one scratch writer serves every tail.
const writer = new TailWriter();

export interface Answer {
  qtype: number; // the QTYPE it answers; 0 when it answers any
  flags: number; // QR, AA and RCODE; RD comes from the query
  ancount: number;
  nscount: number;
  arcount: number;
  // The answer, authority and additional records, after the question:
  // bytes[start, end). Tails compiled together share one buffer.
  bytes: Buffer;
  start: number;
  end: number;
  serialAt: number; // where the tail holds an SOA serial that follows the view version; -1 when none
}

interface Zone {
  key: string; // the zone's name key
  names: Map<string, Answer[]>; // by zone-relative name key ("" = the apex), one per QTYPE
  // NODATA / NXDOMAIN by the length of the relative name key: the SOA they
  // carry only points at the apex, which ends the question.
  nodata: Answer[];
  nxdomain: Answer[];
}

interface ServiceNames {
  names: string[]; // name keys the service has records at
  ancestors: string[]; // name keys above them, which exist as empty non-terminals
}

export interface AnswerTable {
  readonly zones: Zone[]; // longest first: with nested zones the innermost wins
  readonly ttl: number;
  version: number | undefined; // undefined: no snapshot yet, every name in the zones is SERVFAIL
  serial: number;
  synced: boolean; // every cluster finished its first sync; until then a missing name is SERVFAIL
  namespaces: Set<string>;
  emptyNonTerminals: Map<string, number>; // name key → how many names or namespaces need it
  services: Map<string, ServiceNames>;
}

const NO_BYTES = Buffer.alloc(0);
const noRecords = (flags: number): Answer => ({ qtype: 0, flags, ancount: 0, nscount: 0, arcount: 0, bytes: NO_BYTES, start: 0, end: 0, serialAt: -1 });
export const REFUSED = noRecords(FLAG.QR | RCODE.REFUSED);
export const SERVFAIL = noRecords(FLAG.QR | RCODE.SERVFAIL);

// The table before the first snapshot: zones known, no names.
export function pendingAnswers(zones: string[], ttl: number): AnswerTable {
  if (!Number.isInteger(ttl) || ttl < 0 || ttl > MAX_TTL) throw new Error(`invalid TTL: ${ttl} (whole seconds, 0 to ${MAX_TTL})`);
  const keys = [...new Set(zones.map(zoneKey))].sort((a, b) => b.length - a.length);
  return {
    zones: keys.map((key) => ({ key, names: new Map(), ...negativeAnswers(key.length, ttl) })),
    ttl,
    version: undefined,
    serial: 0,
    synced: false,
    namespaces: new Set(),
    emptyNonTerminals: new Map(),
    services: new Map(),
  };
}

export function compileAnswers(view: DnsView, zones: string[], ttl: number): AnswerTable {
  const table = pendingAnswers(zones, ttl);
  table.version = view.version;
  table.serial = serialOf(view.version);
  table.synced = allSynced(view);
  for (const zone of table.zones) addFixedNames(zone, ttl);
  acquire(table.emptyNonTerminals, nameKey(SERVICES_NAME)); // held for good
  for (const namespace of view.namespaces) addNamespace(table, namespace);
  for (const [key, records] of Object.entries(view.services)) addService(table, key, records);
  return table;
}

// Applies a delta in place; false (nothing changed) when it does not start at
// the table's version.
export function applyDelta(table: AnswerTable, delta: ViewDelta): boolean {
  if (delta.from !== table.version) return false;
  if (delta.clusters) table.synced = allSynced({ clusters: delta.clusters });
  if (delta.namespaces) {
    for (const namespace of delta.namespaces.remove) removeNamespace(table, namespace);
    for (const namespace of delta.namespaces.add) addNamespace(table, namespace);
  }
  for (const key of delta.services.remove) removeService(table, key);
  for (const [key, records] of Object.entries(delta.services.upsert)) {
    removeService(table, key);
    addService(table, key, records);
  }
  table.version = delta.to;
  table.serial = serialOf(delta.to);
  return true;
}

// `name` is a query's name key (wire.ts Query.name).
export function lookup(table: AnswerTable, name: string, qtype: number, qclass: number): Answer {
  const zone = findZone(table.zones, name);
  if (!zone || qclass !== CLASS_IN || qtype === TYPE.AXFR || qtype === TYPE.IXFR) return REFUSED;
  const relative = name.slice(0, name.length - zone.key.length);
  const answers = zone.names.get(relative);
  if (answers) {
    for (const a of answers) if (a.qtype === qtype) return a;
    return zone.nodata[relative.length] ?? SERVFAIL;
  }
  if (table.emptyNonTerminals.has(relative)) return zone.nodata[relative.length] ?? SERVFAIL;
  return table.synced ? (zone.nxdomain[relative.length] ?? SERVFAIL) : SERVFAIL;
}

function findZone(zones: Zone[], name: string): Zone | undefined {
  for (const zone of zones) if (name.endsWith(zone.key) && isLabelStart(name, name.length - zone.key.length)) return zone;
  return undefined;
}

function zoneKey(zone: string): string {
  const dotted = zone.toLowerCase().replace(/\.$/, '');
  if (dotted !== '' && !VALID_NAME.test(dotted)) throw new Error(`invalid zone name: ${JSON.stringify(zone)}`);
  return nameKey(dotted);
}

function serialOf(version: number): number {
  return version % 2 ** 32;
}

function addNamespace(table: AnswerTable, namespace: string): void {
  if (table.namespaces.has(namespace) || !VALID_NAME.test(namespace)) return;
  table.namespaces.add(namespace);
  acquire(table.emptyNonTerminals, nameKey(`${namespace}.${SERVICES_NAME}`));
}

function removeNamespace(table: AnswerTable, namespace: string): void {
  if (!table.namespaces.delete(namespace)) return;
  release(table.emptyNonTerminals, nameKey(`${namespace}.${SERVICES_NAME}`));
}

function addService(table: AnswerTable, service: string, records: ServiceRecords): void {
  const names = Object.keys(records.names).filter((name) => VALID_NAME.test(name));
  const keys = names.map(nameKey);
  const ancestors = new Set<string>();
  for (const key of keys) {
    for (let at = key.charCodeAt(0) + 1; at < key.length; at += key.charCodeAt(at) + 1) {
      const ancestor = key.slice(at);
      if (ancestors.has(ancestor)) break; // and so are all above it
      ancestors.add(ancestor);
    }
  }
  for (const zone of table.zones) {
    const compiled = names.map((name, i) => nameAnswers(keys[i]!, records.names[name]!, records, zone.key.length, table.ttl));
    shareBytes(compiled.flat());
    compiled.forEach((answers, i) => zone.names.set(keys[i]!, answers));
  }
  for (const ancestor of ancestors) acquire(table.emptyNonTerminals, ancestor);
  table.services.set(service, { names: keys, ancestors: Array.from(ancestors) });
}

function removeService(table: AnswerTable, service: string): void {
  const known = table.services.get(service);
  if (!known) return;
  for (const zone of table.zones) for (const key of known.names) zone.names.delete(key);
  for (const ancestor of known.ancestors) release(table.emptyNonTerminals, ancestor);
  table.services.delete(service);
}

function acquire(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

function release(counts: Map<string, number>, key: string): void {
  const count = (counts.get(key) ?? 0) - 1;
  if (count > 0) counts.set(key, count);
  else counts.delete(key);
}

const authoritative = (rcode: number): number => FLAG.QR | FLAG.AA | rcode;

function nameAnswers(key: string, records: ViewRecord[], service: ServiceRecords, zoneKeyLength: number, ttl: number): Answer[] {
  const answers: Answer[] = [];
  for (const [qtype, family] of ADDRESS_TYPES) {
    writer.begin(key, zoneKeyLength);
    const count = writeAddresses(key, records, family, ttl);
    if (count > 0) answers.push(answer(qtype, authoritative(RCODE.NOERROR), count, 0, 0));
  }
  const services = records.filter((r): r is SrvRecord => r.type === 'SRV' && VALID_NAME.test(r.target) && [r.priority, r.weight, r.port].every(isUint16));
  if (services.length > 0) {
    writer.begin(key, zoneKeyLength);
    for (const r of services) writer.srv(key, ttl, r.priority, r.weight, r.port, nameKey(r.target));
    // Targets lie in the service's own names (its name or its endpoints'),
    // so a delta never has to recompile another service for them.
    let additional = 0;
    for (const target of new Set(services.map((r) => r.target))) {
      const targetRecords = Object.hasOwn(service.names, target) ? service.names[target] : undefined;
      if (!targetRecords) continue;
      const targetKey = nameKey(target);
      for (const [, family] of ADDRESS_TYPES) additional += writeAddresses(targetKey, targetRecords, family, ttl);
    }
    answers.push(answer(TYPE.SRV, authoritative(RCODE.NOERROR), services.length, 0, additional));
  }
  // An exact-size copy: after a push an array keeps room for 16, and there is one per name.
  return answers.slice();
}

type SrvRecord = Extract<ViewRecord, { type: 'SRV' }>;
const isUint16 = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 0xffff;
const ADDRESS_TYPES = [
  [TYPE.A, 4],
  [TYPE.AAAA, 6],
] as const;

// Writes the A (family 4) or AAAA (6) records among `records`; returns how many.
function writeAddresses(owner: string, records: ViewRecord[], family: 4 | 6, ttl: number): number {
  const type = family === 4 ? 'A' : 'AAAA';
  let count = 0;
  for (const r of records) if (r.type === type && writer.address(owner, ttl, family, r.address)) count++;
  return count;
}

// An answer whose records are the tail just written.
function answer(qtype: number, flags: number, ancount: number, nscount: number, arcount: number): Answer {
  return { qtype, flags, ancount, nscount, arcount, bytes: NO_BYTES, start: writer.tailOffset, end: writer.size, serialAt: writer.serialAt };
}

// Hands the tails written since the last call, as one buffer, to their answers.
function shareBytes(answers: Answer[]): void {
  const bytes = writer.takeBytes();
  for (const a of answers) a.bytes = bytes;
}

// The apex SOA and NS, and dns-version TXT.
function addFixedNames(zone: Zone, ttl: number): void {
  const noerror = authoritative(RCODE.NOERROR);
  writer.begin('', zone.key.length);
  writeZoneSoa(ttl);
  const soa = answer(TYPE.SOA, noerror, 1, 0, 0);
  writer.begin('', zone.key.length);
  writer.ns('', ttl, nameKey(NAMESERVER));
  const ns = answer(TYPE.NS, noerror, 1, 0, 0);
  const version = nameKey(VERSION_NAME);
  writer.begin(version, zone.key.length);
  writer.txt(version, VERSION_TTL, VERSION_TEXT);
  const txt = answer(TYPE.TXT, noerror, 1, 0, 0);
  shareBytes([soa, ns, txt]);
  zone.names.set('', [soa, ns]);
  zone.names.set(version, [txt]);
}

function writeZoneSoa(ttl: number): void {
  writer.soa('', ttl, nameKey(NAMESERVER), nameKey(HOSTMASTER), { ...SOA_TIMERS, minimum: ttl });
}

// One NODATA and one NXDOMAIN answer per possible relative name length.
function negativeAnswers(zoneKeyLength: number, ttl: number): Pick<Zone, 'nodata' | 'nxdomain'> {
  const nodata: Answer[] = [];
  const nxdomain: Answer[] = [];
  for (let length = 0; length + zoneKeyLength + 1 <= MAX_NAME_LENGTH; length++) {
    writer.beginAnyName(length, zoneKeyLength);
    writeZoneSoa(ttl);
    nodata.push(answer(0, authoritative(RCODE.NOERROR), 0, 1, 0));
    nxdomain.push(answer(0, authoritative(RCODE.NXDOMAIN), 0, 1, 0));
  }
  shareBytes([...nodata, ...nxdomain]);
  return { nodata, nxdomain };
}
