// The answer model: every response the frontend can give, compiled from the
// DNS view into the wire-format records that follow the question, per zone,
// name and type (DESIGN.md, "DNS semantics"). Deltas recompile only the
// services they touch. No sockets here.

import { allSynced, type DnsView, type ServiceOverlay, type ServiceRecords, type ViewDelta, type ViewRecord } from '../../shared/view.js';
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
  // The answer RRset or the authority SOA, after the question:
  // bytes[start, end). Tails compiled together share one buffer.
  ancount: number;
  nscount: number;
  bytes: Buffer;
  start: number;
  end: number;
  serialAt: number; // where the tail holds an SOA serial that follows the view version; -1 when none
  rotation: Rotation | undefined; // with more than one answer record
  additional: TargetAddresses | undefined; // SRV: its targets' addresses
}

// Where each answer record ends, so that a response can rotate them and take
// a window (their owner is a pointer to the question).
export interface Rotation {
  ends: number[];
  // The first `preferred` records are the asking view's own cluster's
  // (--prefer-own-cluster): they come first, each group rotated on its own. 0: one group.
  preferred: number;
  turn: number; // counts responses, modulo the product of the group sizes
}

// The additional records of an SRV answer: each target's A and AAAA RRsets,
// with owners the responder points at the target in the record it kept.
export interface TargetAddresses {
  targetOf: number[]; // answer record i → its target t
  // Target t's A RRset is bytes[rrsets[4t], rrsets[4t+1]), its AAAA RRset
  // bytes[rrsets[4t+2], rrsets[4t+3]); records of POINTED_RECORD_LENGTH.
  rrsets: number[];
}

// How answers with several records share the load (README.md, "Load distribution").
export interface AnswerOptions {
  maxEndpoints?: number; // at most this many records in an A, AAAA or SRV answer; default: all
  rotate?: boolean; // round robin: each response starts one record further; default true
  preferOwnCluster?: boolean; // in a view, the records of its cluster's own endpoints first; default false
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
  records: ServiceRecords; // as the view holds them, for zone transfers
}

export interface AnswerTable {
  readonly zones: Zone[]; // longest first: with nested zones the innermost wins
  readonly ttl: number;
  readonly maxEndpoints: number; // Infinity: no limit
  readonly rotate: boolean;
  readonly preferOwnCluster: boolean;
  version: number | undefined; // undefined: no snapshot yet, every name in the zones is SERVFAIL
  serial: number;
  synced: boolean; // every cluster finished its first sync; until then a missing name is SERVFAIL
  namespaces: Set<string>;
  emptyNonTerminals: Map<string, number>; // name key → how many names or namespaces need it
  services: Map<string, ServiceNames>;
  views: ViewAnswers[]; // per importing cluster answered on its own, what differs from the union
}

// What a cluster's clients get instead of the union (shared/view.ts
// ServiceOverlay): the names of the services its overlay holds, and which
// union names it hides (the services it replaces or has no name for).
export interface ViewAnswers {
  readonly cluster: string;
  overlay: Map<string, ServiceRecords | null>; // the cluster's overlay in the served view
  names: Map<string, Answer[]>[]; // per zone of AnswerTable.zones, by relative name key
  emptyNonTerminals: Map<string, number>; // above `names`
  hidden: Map<string, number>; // union name keys the overlay replaces or removes
  hiddenAncestors: Map<string, number>; // the union's empty non-terminals above them, counted as the union counts them
  services: Map<string, { own: ServiceNames | undefined; hidden: ServiceNames | undefined }>;
}

const NO_BYTES = Buffer.alloc(0);
export const noRecords = (flags: number): Answer => ({ qtype: 0, flags, ancount: 0, nscount: 0, bytes: NO_BYTES, start: 0, end: 0, serialAt: -1, rotation: undefined, additional: undefined });
export const REFUSED = noRecords(FLAG.QR | RCODE.REFUSED);
export const SERVFAIL = noRecords(FLAG.QR | RCODE.SERVFAIL);

// The table before the first snapshot: zones known, no names.
// `viewClusters`: the importing clusters whose clients are answered from their overlay.
export function pendingAnswers(zones: string[], ttl: number, options: AnswerOptions = {}, viewClusters: string[] = []): AnswerTable {
  if (!Number.isInteger(ttl) || ttl < 0 || ttl > MAX_TTL) throw new Error(`invalid TTL: ${ttl} (whole seconds, 0 to ${MAX_TTL})`);
  const maxEndpoints = options.maxEndpoints ?? Infinity;
  if (maxEndpoints !== Infinity && (!Number.isInteger(maxEndpoints) || maxEndpoints < 1)) throw new Error(`invalid maximum of endpoints: ${maxEndpoints} (a whole number, at least 1)`);
  const keys = [...new Set(zones.map(zoneKey))].sort((a, b) => b.length - a.length);
  return {
    zones: keys.map((key) => ({ key, names: new Map(), ...negativeAnswers(key, ttl) })),
    ttl,
    maxEndpoints,
    rotate: options.rotate ?? true,
    preferOwnCluster: options.preferOwnCluster ?? false,
    version: undefined,
    serial: 0,
    synced: false,
    namespaces: new Set(),
    emptyNonTerminals: new Map(),
    services: new Map(),
    views: [...new Set(viewClusters)].map((cluster) => ({
      cluster,
      overlay: new Map(),
      names: keys.map(() => new Map()),
      emptyNonTerminals: new Map(),
      hidden: new Map(),
      hiddenAncestors: new Map(),
      services: new Map(),
    })),
  };
}

export function compileAnswers(view: DnsView, zones: string[], ttl: number, options: AnswerOptions = {}, viewClusters: string[] = []): AnswerTable {
  const table = pendingAnswers(zones, ttl, options, viewClusters);
  table.version = view.version;
  table.serial = serialOf(view.version);
  table.synced = allSynced(view);
  for (const zone of table.zones) addFixedNames(zone, ttl);
  acquire(table.emptyNonTerminals, nameKey(SERVICES_NAME)); // held for good
  for (const namespace of view.namespaces) addNamespace(table, namespace);
  for (const [key, records] of Object.entries(view.services)) addService(table, key, records);
  for (const answers of table.views) {
    const overlay: ServiceOverlay = view.views && Object.hasOwn(view.views, answers.cluster) ? view.views[answers.cluster]! : {};
    for (const [key, records] of Object.entries(overlay)) answers.overlay.set(key, records);
    const services = table.preferOwnCluster ? Object.keys(view.services).concat(Object.keys(overlay)) : Object.keys(overlay);
    for (const key of services) refreshViewService(table, answers, key);
  }
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
  for (const answers of table.views) applyOverlayDelta(table, answers, delta);
  table.version = delta.to;
  table.serial = serialOf(delta.to);
  return true;
}

// `name` is a query's name key (wire.ts Query.name). Zone transfers are
// transfer.ts's; here they are REFUSED, as are classes other than IN. With
// `view`, its names come first, then the union's it does not hide.
export function lookup(table: AnswerTable, name: string, qtype: number, qclass: number, view?: ViewAnswers): Answer {
  const z = findZone(table.zones, name);
  const zone = table.zones[z];
  if (!zone || qclass !== CLASS_IN || qtype === TYPE.AXFR || qtype === TYPE.IXFR) return REFUSED;
  const relative = name.slice(0, name.length - zone.key.length);
  const answers = view ? (view.names[z]!.get(relative) ?? (view.hidden.has(relative) ? undefined : zone.names.get(relative))) : zone.names.get(relative);
  if (answers) {
    // ANY gets one RRset (RFC 8482): the first, A before AAAA before SRV, SOA at the apex.
    if (qtype === TYPE.ANY && answers[0]) return answers[0];
    for (const a of answers) if (a.qtype === qtype) return a;
    return zone.nodata[relative.length] ?? SERVFAIL;
  }
  if (view ? isViewEmptyNonTerminal(table, view, relative) : table.emptyNonTerminals.has(relative)) return zone.nodata[relative.length] ?? SERVFAIL;
  return table.synced ? (zone.nxdomain[relative.length] ?? SERVFAIL) : SERVFAIL;
}

// Above the view's own names, or above a union name it does not hide.
function isViewEmptyNonTerminal(table: AnswerTable, view: ViewAnswers, relative: string): boolean {
  return view.emptyNonTerminals.has(relative) || (table.emptyNonTerminals.get(relative) ?? 0) > (view.hiddenAncestors.get(relative) ?? 0);
}

// The zone whose apex is the name key `name`.
export function zoneAt(table: AnswerTable, name: string): Zone | undefined {
  return table.zones.find((zone) => zone.key === name);
}

// The index of the innermost zone `name` lies in, -1 when none.
function findZone(zones: Zone[], name: string): number {
  for (let z = 0; z < zones.length; z++) {
    const key = zones[z]!.key;
    if (name.endsWith(key) && isLabelStart(name, name.length - key.length)) return z;
  }
  return -1;
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
  const compiled = compileService(table, records, table.zones.map((zone) => zone.names));
  for (const ancestor of compiled.ancestors) acquire(table.emptyNonTerminals, ancestor);
  table.services.set(service, compiled);
}

// Compiles a service's names into `names` (one map per zone); its name keys
// and the empty non-terminals above them. `cluster`: the view's cluster,
// whose own records come first.
function compileService(table: AnswerTable, records: ServiceRecords, names: Map<string, Answer[]>[], cluster?: string): ServiceNames {
  const served = servedNames(records);
  const keys = served.map(nameKey);
  const ancestors = new Set<string>();
  for (const key of keys) {
    for (let at = key.charCodeAt(0) + 1; at < key.length; at += key.charCodeAt(at) + 1) {
      const ancestor = key.slice(at);
      if (ancestors.has(ancestor)) break; // and so are all above it
      ancestors.add(ancestor);
    }
  }
  const own = cluster !== undefined && table.preferOwnCluster ? ownRecords(records, cluster) : undefined;
  table.zones.forEach((zone, z) => {
    const compiled = served.map((name, i) => nameAnswers(keys[i]!, records.names[name]!, records, zone.key, table.ttl, own));
    shareBytes(compiled.flat());
    compiled.forEach((answers, i) => names[z]!.set(keys[i]!, answers));
  });
  return { names: keys, ancestors: Array.from(ancestors), records };
}

// A delta's changes to a view: its overlay entries, its whole overlay when
// its cluster is no longer synced, and the union of services it overlays.
// The union is already updated.
function applyOverlayDelta(table: AnswerTable, view: ViewAnswers, delta: ViewDelta): void {
  const changed = new Set<string>();
  const change = delta.views && Object.hasOwn(delta.views, view.cluster) ? delta.views[view.cluster] : undefined;
  if (change) {
    for (const key of change.remove) view.overlay.delete(key);
    for (const [key, records] of Object.entries(change.upsert)) view.overlay.set(key, records);
    for (const key of [...change.remove, ...Object.keys(change.upsert)]) changed.add(key);
  }
  if (delta.clusters && !delta.clusters.some((c) => c.id === view.cluster && c.synced)) {
    for (const key of view.overlay.keys()) changed.add(key);
    view.overlay.clear();
  }
  for (const key of [...delta.services.remove, ...Object.keys(delta.services.upsert)]) if (view.overlay.has(key) || table.preferOwnCluster) changed.add(key);
  for (const key of changed) refreshViewService(table, view, key);
}

// Recompiles what `view` holds for `service` from its overlay entry and the
// union's names for it, dropping what it held before.
function refreshViewService(table: AnswerTable, view: ViewAnswers, service: string): void {
  const held = view.services.get(service);
  if (held?.own) {
    for (const names of view.names) for (const key of held.own.names) names.delete(key);
    for (const ancestor of held.own.ancestors) release(view.emptyNonTerminals, ancestor);
  }
  if (held?.hidden) {
    for (const key of held.hidden.names) release(view.hidden, key);
    for (const ancestor of held.hidden.ancestors) release(view.hiddenAncestors, ancestor);
  }
  view.services.delete(service);
  if (!view.overlay.has(service)) {
    // --prefer-own-cluster: a union service with this cluster's endpoints among others' gets its own order.
    const union = table.preferOwnCluster ? table.services.get(service)?.records : undefined;
    if (union && mixesOwn(union, view.cluster)) {
      const own = compileService(table, union, view.names, view.cluster);
      for (const ancestor of own.ancestors) acquire(view.emptyNonTerminals, ancestor);
      view.services.set(service, { own, hidden: undefined });
    }
    return;
  }
  const records = view.overlay.get(service);
  const hidden = table.services.get(service);
  if (hidden) {
    for (const key of hidden.names) acquire(view.hidden, key);
    for (const ancestor of hidden.ancestors) acquire(view.hiddenAncestors, ancestor);
  }
  const own = records ? compileService(table, records, view.names, view.cluster) : undefined;
  for (const ancestor of own?.ancestors ?? []) acquire(view.emptyNonTerminals, ancestor);
  view.services.set(service, { own, hidden });
}

// The names of a service the frontend answers for: those it can write as labels.
function servedNames(records: ServiceRecords): string[] {
  return Object.keys(records.names).filter((name) => VALID_NAME.test(name));
}

const isServableSrv = (r: ViewRecord): r is SrvRecord => r.type === 'SRV' && VALID_NAME.test(r.target) && [r.priority, r.weight, r.port].every(isUint16);

// Every name of every service with the records the zones hold there (A and
// AAAA still to be checked by writing them), for zone transfers; the apex
// and dns-version are writeApexRecords'.
export function* servedRecords(table: AnswerTable): Generator<[string, ViewRecord[]]> {
  for (const { records } of table.services.values()) {
    for (const name of servedNames(records)) {
      yield [nameKey(name), records.names[name]!.filter((r) => r.type !== 'SRV' || isServableSrv(r))];
    }
  }
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

// `own`: the view cluster's own records (ownRecords), written first.
function nameAnswers(key: string, records: ViewRecord[], service: ServiceRecords, zone: string, ttl: number, own: Set<string> | undefined): Answer[] {
  const ordered = own ? ownFirst(records, own) : records;
  const answers: Answer[] = [];
  for (const [qtype, family] of ADDRESS_TYPES) {
    writer.begin(key, zone);
    ends.length = 0;
    let mine = 0;
    for (const r of ordered) {
      if (r.type !== ADDRESS_TYPE[family] || !writer.address(key, ttl, family, r.address)) continue;
      ends.push(writer.size);
      if (own?.has(r.address)) mine++;
    }
    if (ends.length > 0) answers.push(recordsAnswer(qtype, undefined, mine));
  }
  const services = ordered.filter(isServableSrv);
  if (services.length > 0) {
    writer.begin(key, zone);
    ends.length = 0;
    for (const r of services) {
      writer.srv(key, ttl, r.priority, r.weight, r.port, nameKey(r.target));
      ends.push(writer.size);
    }
    const mine = own ? services.filter((r) => own.has(r.target)).length : 0;
    answers.push(recordsAnswer(TYPE.SRV, targetAddresses(services, service, ttl), mine));
  }
  // An exact-size copy: after a push an array keeps room for 16, and there is one per name.
  return answers.slice();
}

// The endpoint names of `cluster` in a service ("<host>.<cluster>.<svc>.<ns>.svc",
// the targets of its SRV records) and their addresses.
function ownRecords(service: ServiceRecords, cluster: string): Set<string> {
  const own = new Set<string>();
  for (const [name, c] of endpointClusters(service)) {
    if (c !== cluster) continue;
    own.add(name);
    for (const r of service.names[name]!) if (r.type !== 'SRV') own.add(r.address);
  }
  return own;
}

// Whether the service has endpoints of `cluster` and of another cluster.
function mixesOwn(service: ServiceRecords, cluster: string): boolean {
  const clusters = new Set(endpointClusters(service).values());
  return clusters.has(cluster) && clusters.size > 1;
}

// Endpoint name → its cluster label: the names two labels below the
// service's name (the shortest), except its _port._proto SRV names.
function endpointClusters(service: ServiceRecords): Map<string, string> {
  const names = Object.keys(service.names);
  const base = names.reduce((a, b) => (b.length < a.length ? b : a), names[0] ?? '');
  const out = new Map<string, string>();
  for (const name of names) {
    const labels = name.slice(0, name.length - base.length - 1).split('.');
    if (labels.length === 2 && !name.startsWith('_') && name.endsWith(`.${base}`)) out.set(name, labels[1]!);
  }
  return out;
}

// Stable: the records `own` holds (by address or SRV target), then the others.
function ownFirst(records: ViewRecord[], own: Set<string>): ViewRecord[] {
  const isOwn = (r: ViewRecord) => own.has(r.type === 'SRV' ? r.target : r.address);
  return [...records.filter(isOwn), ...records.filter((r) => !isOwn(r))];
}

// Where each record nameAnswers wrote ends; most names have one, and keep no array.
const ends: number[] = [];

// Targets lie in the service's own names (its name or its endpoints'), so a
// delta never has to recompile another service for them.
function targetAddresses(services: SrvRecord[], service: ServiceRecords, ttl: number): TargetAddresses {
  const targets: string[] = [];
  const targetOf = services.map((r) => {
    const t = targets.indexOf(r.target);
    return t >= 0 ? t : targets.push(r.target) - 1;
  });
  const rrsets: number[] = [];
  for (const target of targets) {
    const targetRecords = Object.hasOwn(service.names, target) ? service.names[target]! : [];
    for (const [, family] of ADDRESS_TYPES) {
      rrsets.push(writer.size);
      for (const r of targetRecords) if (r.type === ADDRESS_TYPE[family]) writer.pointedAddress(ttl, family, r.address);
      rrsets.push(writer.size);
    }
  }
  return { targetOf, rrsets };
}

type SrvRecord = Extract<ViewRecord, { type: 'SRV' }>;
const isUint16 = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 0xffff;
const ADDRESS_TYPES = [
  [TYPE.A, 4],
  [TYPE.AAAA, 6],
] as const;
const ADDRESS_TYPE = { 4: 'A', 6: 'AAAA' } as const;

// An answer whose records are the tail just written.
function answer(qtype: number, flags: number, ancount: number, nscount: number): Answer {
  return { qtype, flags, ancount, nscount, bytes: NO_BYTES, start: writer.tailOffset, end: writer.size, serialAt: writer.serialAt, rotation: undefined, additional: undefined };
}

// An answer of the records just written, ending at `ends`, and `additional` after them.
// `preferred`: how many of them, first, are the view cluster's own.
function recordsAnswer(qtype: number, additional: TargetAddresses | undefined, preferred: number): Answer {
  const a = answer(qtype, authoritative(RCODE.NOERROR), ends.length, 0);
  a.end = ends[ends.length - 1]!;
  if (ends.length > 1) a.rotation = { ends: ends.slice(), preferred: preferred < ends.length ? preferred : 0, turn: 0 };
  a.additional = additional;
  return a;
}

// Hands the tails written since the last call, as one buffer, to their answers.
function shareBytes(answers: Answer[]): void {
  const bytes = writer.takeBytes();
  for (const a of answers) a.bytes = bytes;
}

// The apex SOA and NS, and dns-version TXT.
function addFixedNames(zone: Zone, ttl: number): void {
  const noerror = authoritative(RCODE.NOERROR);
  writer.begin('', zone.key);
  writeZoneSoa(writer, ttl);
  const soa = answer(TYPE.SOA, noerror, 1, 0);
  writer.begin('', zone.key);
  writeZoneNs(writer, ttl);
  const ns = answer(TYPE.NS, noerror, 1, 0);
  writer.begin(VERSION_KEY, zone.key);
  writeVersionTxt(writer);
  const txt = answer(TYPE.TXT, noerror, 1, 0);
  shareBytes([soa, ns, txt]);
  zone.names.set('', [soa, ns]);
  zone.names.set(VERSION_KEY, [txt]);
}

const VERSION_KEY = nameKey(VERSION_NAME);

// The fixed records of every zone; `serial` 0 leaves it to the responder.
export function writeZoneSoa(w: TailWriter, ttl: number, serial = 0): void {
  w.soa('', ttl, nameKey(NAMESERVER), nameKey(HOSTMASTER), { ...SOA_TIMERS, minimum: ttl }, serial);
}

export function writeZoneNs(w: TailWriter, ttl: number): void {
  w.ns('', ttl, nameKey(NAMESERVER));
}

export function writeVersionTxt(w: TailWriter): void {
  w.txt(VERSION_KEY, VERSION_TTL, VERSION_TEXT);
}

// One NODATA and one NXDOMAIN answer per possible relative name length.
function negativeAnswers(zone: string, ttl: number): Pick<Zone, 'nodata' | 'nxdomain'> {
  const nodata: Answer[] = [];
  const nxdomain: Answer[] = [];
  for (let length = 0; length + zone.length + 1 <= MAX_NAME_LENGTH; length++) {
    writer.beginAnyName(length, zone);
    writeZoneSoa(writer, ttl);
    nodata.push(answer(0, authoritative(RCODE.NOERROR), 0, 1));
    nxdomain.push(answer(0, authoritative(RCODE.NXDOMAIN), 0, 1));
  }
  shareBytes([...nodata, ...nxdomain]);
  return { nodata, nxdomain };
}
