// The answer model: every response the frontend can give, compiled from the
// DNS view (DESIGN.md, "DNS semantics") into the octets that follow the
// question, per name and type (rrset.ts, written by nameWriter.ts), kept in
// an arena and found by the query's own octets through an index. Deltas
// recompile only the services they touch. No sockets here.

import { allSynced, type DnsView, type ServiceRecords, type ViewDelta } from '../../shared/view.js';
import { buildFrom, namesOf, recordsOf, type ServiceNames, type ViewBuilder } from '../../shared/viewBuilder.js';
import { NameArena } from './nameArena.js';
import { NameIndex } from './nameIndex.js';
import { VERSION_NAME, hasSrv, isValidName, negativeAnswers, noRecords, sharedSrvNames, writeApex, writeName, writeVersion, written, writtenNames } from './nameWriter.js';
import { mixesOwn, ownRecords } from './ownCluster.js';
import { NAME_KEY, NAME_KEY_LENGTH, NAME_RRSETS, NAME_ZONE, NEXT, QTYPE, firstRRset, rrsetLength, type Answer } from './rrset.js';
import { CLASS_IN, FLAG, HEADER_LENGTH, MAX_NAME_LENGTH, RCODE, TYPE, isLabelStart, nameKey, readU16, readU32, type Query } from './wire.js';

export type { Answer } from './rrset.js';
export { noRecords } from './nameWriter.js';

const SERVICES_KEY = nameKey('svc');
const MAX_TTL = 2 ** 31 - 1; // RFC 2181 §8
// Names wait in the scratch writer until this many octets, then go to the arena together.
const BATCH_SIZE = 1 << 18;

// How answers with several records share the load (README.md, "Load distribution").
export interface AnswerOptions {
  maxEndpoints?: number; // at most this many records in an A, AAAA or SRV answer; default: all
  rotate?: boolean; // round robin: each response starts one record further; default true
  preferOwnCluster?: boolean; // in a view, the records of its cluster's own endpoints first; default false
}

interface Zone {
  key: string; // the zone's name key
  // NODATA / NXDOMAIN by the length of the relative name key.
  nodata: Answer[];
  nxdomain: Answer[];
}

// A service's compiled names, in every zone: `count` names one after the
// other in the table's arena from address `first` on.
interface CompiledService {
  first: number;
  count: number;
  records: ServiceRecords | undefined; // kept only where views recompile it (--prefer-own-cluster)
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
  arena: NameArena; // every compiled name, the union's and the views'
  // The union's names, each only in the innermost zone it lies in: a hit needs no zone.
  names: NameIndex;
  fixed: CompiledService; // every zone's apex and dns-version
  namespaces: Set<string>;
  emptyNonTerminals: Map<string, number>; // zone-relative name key → how many names or namespaces need it
  services: Map<string, CompiledService>;
  views: ViewAnswers[]; // per importing cluster answered on its own, what differs from the union
}

// What a cluster's clients get instead of the union (shared/view.ts
// ServiceOverlay): the names of the services its overlay holds, and which
// union names it hides (the services it replaces or has no name for).
export interface ViewAnswers {
  readonly cluster: string;
  overlay: Map<string, ServiceRecords | null>; // the cluster's overlay in the served view
  names: NameIndex; // its own names, in the table's arena
  emptyNonTerminals: Map<string, number>; // above `names`, by relative name key
  hidden: Map<number, number>; // addresses of the union names the overlay replaces or removes
  hiddenAncestors: Map<string, number>; // the union's empty non-terminals above them, counted as the union counts them
  services: Map<string, { own: CompiledService | undefined; hidden: CompiledService | undefined }>;
}

export const REFUSED = noRecords(FLAG.QR | RCODE.REFUSED);
export const SERVFAIL = noRecords(FLAG.QR | RCODE.SERVFAIL);

// The table before the first snapshot: zones known, no names.
// `viewClusters`: the importing clusters whose clients are answered from
// their overlay; `arena`: where its names are to go.
export function pendingAnswers(zones: string[], ttl: number, options: AnswerOptions = {}, viewClusters: string[] = [], arena = new NameArena()): AnswerTable {
  if (!Number.isInteger(ttl) || ttl < 0 || ttl > MAX_TTL) throw new Error(`invalid TTL: ${ttl} (whole seconds, 0 to ${MAX_TTL})`);
  const maxEndpoints = options.maxEndpoints ?? Infinity;
  if (maxEndpoints !== Infinity && (!Number.isInteger(maxEndpoints) || maxEndpoints < 1)) throw new Error(`invalid maximum of endpoints: ${maxEndpoints} (a whole number, at least 1)`);
  const keys = [...new Set(zones.map(zoneKey))].sort((a, b) => b.length - a.length);
  const zoneKeys = keys.map((key) => Buffer.from(key, 'latin1'));
  discardPending();
  return {
    zones: keys.map((key) => ({ key, ...negativesOf(key, ttl) })),
    ttl,
    maxEndpoints,
    rotate: options.rotate ?? true,
    preferOwnCluster: options.preferOwnCluster ?? false,
    version: undefined,
    serial: 0,
    synced: false,
    arena,
    names: new NameIndex(arena, zoneKeys),
    fixed: compiledService(undefined),
    namespaces: new Set(),
    emptyNonTerminals: new Map(),
    services: new Map(),
    views: [...new Set(viewClusters)].map((cluster) => ({
      cluster,
      overlay: new Map(),
      names: new NameIndex(arena, zoneKeys),
      emptyNonTerminals: new Map(),
      hidden: new Map(),
      hiddenAncestors: new Map(),
      services: new Map(),
    })),
  };
}

// A zone's NODATA and NXDOMAIN answers by its name key and TTL: they never
// change, and every table needs them (a frontend's first two at once).
const negatives = new Map<string, Pick<Zone, 'nodata' | 'nxdomain'>>();

function negativesOf(zone: string, ttl: number): Pick<Zone, 'nodata' | 'nxdomain'> {
  const key = `${ttl} ${zone}`;
  let made = negatives.get(key);
  if (!made) negatives.set(key, (made = negativeAnswers(zone, ttl)));
  return made;
}

export function compileAnswers(view: DnsView, zones: string[], ttl: number, options: AnswerOptions = {}, viewClusters: string[] = []): AnswerTable {
  let table: AnswerTable | undefined;
  buildFrom(view, answersBuilder(zones, ttl, options, viewClusters, (compiled) => (table = compiled)));
  return table!;
}

// Compiles a view as it is handed over, part by part: a snapshot read
// straight into answers, never held whole. `done` gets the table.
export function answersBuilder(zones: string[], ttl: number, options: AnswerOptions | undefined, viewClusters: string[], done: (table: AnswerTable) => void, arena?: NameArena): ViewBuilder {
  const table = pendingAnswers(zones, ttl, options, viewClusters, arena);
  return {
    head(head) {
      table.version = head.version;
      table.serial = serialOf(head.version);
      table.synced = allSynced(head);
      addFixedNames(table);
      acquire(table.emptyNonTerminals, SERVICES_KEY); // held for good
      for (const namespace of head.namespaces) addNamespace(table, namespace);
    },
    service(key, names) {
      addService(table, key, names);
      if (written.size >= BATCH_SIZE) placeNames(table);
    },
    overlay(cluster, overlay) {
      const answers = table.views.find((v) => v.cluster === cluster);
      if (answers) for (const [key, records] of Object.entries(overlay)) answers.overlay.set(key, records);
    },
    done() {
      placeNames(table); // the views read the union's names
      for (const answers of table.views) {
        const overlaid = [...answers.overlay.keys()];
        for (const key of table.preferOwnCluster ? [...table.services.keys(), ...overlaid] : overlaid) refreshViewService(table, answers, key);
      }
      done(table);
    },
  };
}

// Applies a delta in place; false (nothing changed) when it does not start at
// the table's version.
export function applyDelta(table: AnswerTable, delta: ViewDelta): boolean {
  if (delta.from !== table.version) return false;
  discardPending();
  if (delta.clusters) table.synced = allSynced({ clusters: delta.clusters });
  if (delta.namespaces) {
    for (const namespace of delta.namespaces.remove) removeNamespace(table, namespace);
    for (const namespace of delta.namespaces.add) addNamespace(table, namespace);
  }
  for (const key of delta.services.remove) removeService(table, key);
  for (const [key, records] of Object.entries(delta.services.upsert)) {
    removeService(table, key);
    addService(table, key, namesOf(records));
  }
  placeNames(table);
  for (const answers of table.views) applyOverlayDelta(table, answers, delta);
  if (table.arena.wasteful) compactNames(table);
  table.version = delta.to;
  table.serial = serialOf(delta.to);
  return true;
}

// The answer to the question of `query`, parsed from `packet`. Zone
// transfers are transfer.ts's; here they are REFUSED, as are classes other
// than IN. With `view`, its names come first, then the union's it does not hide.
export function lookup(table: AnswerTable, packet: Buffer, query: Query, view?: ViewAnswers): Answer {
  const { qtype, nameEnd } = query;
  if (query.qclass !== CLASS_IN || qtype === TYPE.AXFR || qtype === TYPE.IXFR) return REFUSED;
  const address = view ? viewName(table, view, packet, nameEnd) : table.names.find(packet, HEADER_LENGTH, nameEnd);
  if (address >= 0) return rrsetOf(table, address, nameEnd - HEADER_LENGTH, qtype);
  const name = query.name(packet);
  const zone = table.zones[findZone(table.zones, name)];
  if (!zone) return REFUSED;
  const relative = name.slice(0, name.length - zone.key.length);
  if (view ? isViewEmptyNonTerminal(table, view, relative) : table.emptyNonTerminals.has(relative)) return zone.nodata[relative.length] ?? SERVFAIL;
  return table.synced ? (zone.nxdomain[relative.length] ?? SERVFAIL) : SERVFAIL;
}

// The address of the name packet[HEADER_LENGTH, nameEnd) in `view`: its own, or the union's unless hidden; -1 when none.
function viewName(table: AnswerTable, view: ViewAnswers, packet: Buffer, nameEnd: number): number {
  const own = view.names.find(packet, HEADER_LENGTH, nameEnd);
  if (own >= 0) return own;
  const union = table.names.find(packet, HEADER_LENGTH, nameEnd);
  return union >= 0 && !view.hidden.has(union) ? union : -1;
}

// What lookup returns for a name: valid until its next call.
const found: Answer = { block: Buffer.alloc(0), at: 0 };

// The RRset of type `qtype` of the name at `address`; ANY gets one RRset
// (RFC 8482): the first, A before AAAA before SRV, SOA at the apex. NODATA
// when it has none.
function rrsetOf(table: AnswerTable, address: number, nameLength: number, qtype: number): Answer {
  const block = table.arena.chunkOf(address);
  const start = table.arena.offsetOf(address);
  let at = firstRRset(block, start);
  for (let left = block[start + NAME_RRSETS]!; left > 0; left--) {
    if (qtype === TYPE.ANY || readU16(block, at + QTYPE) === qtype) {
      found.block = block;
      found.at = at;
      return found;
    }
    at += readU32(block, at + NEXT);
  }
  const zone = table.zones[block[start + NAME_ZONE]!]!;
  return zone.nodata[nameLength - zone.key.length] ?? SERVFAIL;
}

// Above the view's own names, or above a union name it does not hide.
function isViewEmptyNonTerminal(table: AnswerTable, view: ViewAnswers, relative: string): boolean {
  return view.emptyNonTerminals.has(relative) || (table.emptyNonTerminals.get(relative) ?? 0) > (view.hiddenAncestors.get(relative) ?? 0);
}

// The zone whose apex is the name key `name`.
export function zoneAt(table: AnswerTable, name: string): Zone | undefined {
  return table.zones.find((zone) => zone.key === name);
}

// Every name of the union's services in `zone`: its relative name key and
// where it is compiled (rrset.ts), for zone transfers; the apex and
// dns-version are transfer.ts's own.
export function* zoneNames(table: AnswerTable, zone: Zone): Generator<[string, Answer]> {
  const z = table.zones.indexOf(zone);
  for (const compiled of table.services.values()) {
    for (const address of addressesOf(table.arena, compiled)) {
      const name = { block: table.arena.chunkOf(address), at: table.arena.offsetOf(address) };
      if (name.block[name.at + NAME_ZONE] === z) yield [relativeKeyAt(name.block, name.at), name];
    }
  }
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
  if (dotted !== '' && !isValidName(dotted)) throw new Error(`invalid zone name: ${JSON.stringify(zone)}`);
  return nameKey(dotted);
}

function serialOf(version: number): number {
  return version % 2 ** 32;
}

function addNamespace(table: AnswerTable, namespace: string): void {
  if (table.namespaces.has(namespace) || !isValidName(namespace)) return;
  table.namespaces.add(namespace);
  acquire(table.emptyNonTerminals, nameKey(namespace, SERVICES_KEY));
}

function removeNamespace(table: AnswerTable, namespace: string): void {
  if (!table.namespaces.delete(namespace)) return;
  release(table.emptyNonTerminals, nameKey(namespace, SERVICES_KEY));
}

function addService(table: AnswerTable, service: string, names: ServiceNames): void {
  const compiled = compiledService(table.preferOwnCluster && table.views.length > 0 ? recordsOf(names) : undefined);
  for (const ancestor of compileService(table, names, table.names, compiled)) acquire(table.emptyNonTerminals, ancestor);
  table.services.set(service, compiled);
}

function removeService(table: AnswerTable, service: string): void {
  const known = table.services.get(service);
  if (!known) return;
  for (const ancestor of ancestorsOf(relativeKeys(table, known))) release(table.emptyNonTerminals, ancestor);
  forgetNames(table, table.names, known);
  table.services.delete(service);
}

const compiledService = (records: ServiceRecords | undefined): CompiledService => ({ first: -1, count: 0, records });

// Writes a service's names, in every zone, for `index`; placeNames puts them
// in the arena and tells `compiled` where. Returns the empty non-terminals
// above them. `own`: a view cluster's own records (ownCluster.ts), written first.
function compileService(table: AnswerTable, names: ServiceNames, index: NameIndex, compiled: CompiledService, own?: Set<string>): string[] {
  const relatives: string[] = [];
  const first = writtenNames.count;
  const portOf = sharedSrvNames(names); // a service's name → its port's, written with it
  const ports = portOf && new Set(portOf.values());
  // forEach: for-of over a Map makes an entry and a result per name until optimised.
  names.forEach((records, name) => {
    const withSrv = portOf !== undefined && hasSrv(records); // what portOf can hold: no lookup for most names
    if ((withSrv && ports!.has(name)) || !isValidName(name)) return; // a port's name comes with its service's; what cannot be written as labels never
    const relative = nameKey(name);
    const port = withSrv ? portOf.get(name) : undefined;
    const portKey = port !== undefined && isValidName(port) ? nameKey(port) : undefined;
    for (let z = 0; z < table.zones.length; z++) {
      const zone = table.zones[z]!.key;
      const portName = portKey !== undefined && liesIn(table, portKey, z) ? { key: portKey, records: names.get(port!)! } : undefined;
      if (portName) relatives.push(portName.key);
      if (liesIn(table, relative, z)) {
        relatives.push(relative);
        writeName(relative, z, zone, records, names, table.ttl, own, portName);
      } else if (portName) writeName(portName.key, z, zone, portName.records, names, table.ttl, own);
    }
  });
  pend(index, compiled, first);
  return ancestorsOf(relatives);
}

// Whether the name of relative key `relative` is one to compile in zone `z`:
// not too long to ask for, and not an inner zone's name.
function liesIn(table: AnswerTable, relative: string, z: number): boolean {
  const zone = table.zones[z]!.key;
  return relative.length + zone.length < MAX_NAME_LENGTH && (table.zones.length === 1 || findZone(table.zones, relative + zone) === z);
}

// The addresses of a service's names.
function* addressesOf(arena: NameArena, compiled: CompiledService): Generator<number> {
  for (let i = 0, address = compiled.first; i < compiled.count; i++, address += nameLength(arena, address)) yield address;
}

// The relative name keys of a service's names.
function relativeKeys(table: AnswerTable, compiled: CompiledService): string[] {
  return Array.from(addressesOf(table.arena, compiled), (address) => relativeKeyAt(table.arena.chunkOf(address), table.arena.offsetOf(address)));
}

function relativeKeyAt(block: Buffer, at: number): string {
  return block.toString('latin1', at + NAME_KEY, at + NAME_KEY + block[at + NAME_KEY_LENGTH]!);
}

// The empty non-terminals above relative name keys `names`, each once; but
// "svc", held for good, and the names themselves: they come and go with them.
function ancestorsOf(names: string[]): string[] {
  const seen: string[] = [];
  const ancestors: string[] = [];
  for (const name of names) {
    for (let at = name.charCodeAt(0) + 1; at < name.length; at += name.charCodeAt(at) + 1) {
      if (endsInOneOf(name, at, seen)) break; // and so are all above it
      const ancestor = name.slice(at);
      seen.push(ancestor);
      if (ancestor !== SERVICES_KEY && !names.includes(ancestor)) ancestors.push(ancestor);
    }
  }
  return ancestors;
}

// Whether name.slice(at) is one of `keys`, without making it.
function endsInOneOf(name: string, at: number, keys: string[]): boolean {
  for (const key of keys) if (key.length === name.length - at && name.endsWith(key)) return true;
  return false;
}

// Services written but not yet in the arena: the index their names go to,
// what they compiled to, and where their names start in `writtenNames`.
const pendingIndexes: NameIndex[] = [];
const pendingServices: CompiledService[] = [];
const pendingFirsts: number[] = [];

function pend(index: NameIndex, compiled: CompiledService, first: number): void {
  pendingIndexes.push(index);
  pendingServices.push(compiled);
  pendingFirsts.push(first);
  compiled.count = writtenNames.count - first;
}

// Also what a compile that threw left written.
function discardPending(): void {
  written.rewind(0);
  writtenNames.clear();
  pendingIndexes.length = 0;
  pendingServices.length = 0;
  pendingFirsts.length = 0;
}

// Copies the services written to the arena, as many at once as fit in its
// chunk, each in one piece, and indexes their names.
function placeNames(table: AnswerTable): void {
  const arena = table.arena;
  const count = pendingFirsts.length;
  const startOf = (i: number): number => (i < count && pendingFirsts[i]! < writtenNames.count ? writtenNames.at(pendingFirsts[i]!) : written.size);
  for (let i = 0; i < count; ) {
    const start = startOf(i);
    const room = arena.roomFor(startOf(i + 1) - start);
    let j = i + 1;
    while (j < count && startOf(j + 1) - start <= room) j++;
    const first = arena.reserve(startOf(j) - start);
    written.copyTo(arena.chunkOf(first), arena.offsetOf(first), start, startOf(j));
    for (; i < j; i++) {
      const compiled = pendingServices[i]!;
      const names = pendingFirsts[i]!;
      compiled.first = first + startOf(i) - start;
      // A name two services claim: the last one's.
      for (let n = names; n < names + compiled.count; n++) pendingIndexes[i]!.add(first + writtenNames.at(n) - start);
    }
  }
  discardPending();
}

// A service's names go: out of the index, and their octets are garbage.
function forgetNames(table: AnswerTable, index: NameIndex, compiled: CompiledService): void {
  for (const address of addressesOf(table.arena, compiled)) {
    index.remove(address);
    table.arena.drop(nameLength(table.arena, address));
  }
}

// The octets of the name at `address`: its header, key and every RRset.
function nameLength(arena: NameArena, address: number): number {
  return nameLengthAt(arena.chunkOf(address), arena.offsetOf(address));
}

// Up to the RRset before a shared one, where the name sharing it starts (rrset.ts).
function nameLengthAt(block: Buffer, start: number): number {
  let at = firstRRset(block, start);
  for (let left = block[start + NAME_RRSETS]!; left > 0; left--) {
    const next = readU32(block, at + NEXT);
    if (left > 1 && next !== rrsetLength(block, at)) return at + rrsetLength(block, at) - start;
    at += next;
  }
  return at - start;
}

// Slides the services still in use together in the arena, over what deltas
// replaced, and points the indexes and the views at where their names went.
function compactNames(table: AnswerTable): void {
  const arena = table.arena;
  const owners: [CompiledService, NameIndex][] = [[table.fixed, table.names], ...[...table.services.values()].map((compiled): [CompiledService, NameIndex] => [compiled, table.names])];
  for (const view of table.views) for (const held of view.services.values()) if (held.own) owners.push([held.own, view.names]);
  const live = owners.filter(([compiled]) => compiled.count > 0).sort(([a], [b]) => a.first - b.first);
  const track = table.views.some((view) => view.hidden.size > 0);
  const moved = new Map<number, number>(); // the union's names, for the views that hide some
  const spans = live.map(([compiled]): [number, number] => {
    const block = arena.chunkOf(compiled.first);
    const start = arena.offsetOf(compiled.first);
    let end = start;
    for (let n = 0; n < compiled.count; n++) end += nameLengthAt(block, end);
    return [compiled.first, end - start];
  });
  arena.compact(spans, (span, first) => {
    const [compiled, index] = live[span]!;
    if (first === compiled.first) return;
    const block = arena.chunkOf(first);
    const start = arena.offsetOf(first);
    for (let n = 0, at = start; n < compiled.count; n++, at += nameLengthAt(block, at)) {
      index.move(compiled.first + at - start, first + at - start);
      if (track && index === table.names) moved.set(compiled.first + at - start, first + at - start);
    }
    compiled.first = first;
  });
  for (const view of table.views) view.hidden = new Map([...view.hidden].map(([address, count]) => [moved.get(address) ?? address, count]));
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
    for (const ancestor of ancestorsOf(relativeKeys(table, held.own))) release(view.emptyNonTerminals, ancestor);
    forgetNames(table, view.names, held.own);
  }
  if (held?.hidden) {
    for (const address of addressesOf(table.arena, held.hidden)) release(view.hidden, address);
    for (const ancestor of ancestorsOf(relativeKeys(table, held.hidden))) release(view.hiddenAncestors, ancestor);
  }
  view.services.delete(service);
  if (!view.overlay.has(service)) {
    // --prefer-own-cluster: a union service with this cluster's endpoints among others' gets its own order.
    const union = table.preferOwnCluster ? table.services.get(service)?.records : undefined;
    if (union && mixesOwn(union, view.cluster)) view.services.set(service, { own: compileViewService(table, view, union), hidden: undefined });
    return;
  }
  const records = view.overlay.get(service);
  const hidden = table.services.get(service);
  if (hidden) {
    for (const address of addressesOf(table.arena, hidden)) acquire(view.hidden, address);
    for (const ancestor of ancestorsOf(relativeKeys(table, hidden))) acquire(view.hiddenAncestors, ancestor);
  }
  view.services.set(service, { own: records ? compileViewService(table, view, records) : undefined, hidden });
}

// Placed at once: a service refreshed twice drops what the first time compiled.
function compileViewService(table: AnswerTable, view: ViewAnswers, records: ServiceRecords): CompiledService {
  const compiled = compiledService(undefined);
  const own = table.preferOwnCluster ? ownRecords(records, view.cluster) : undefined;
  for (const ancestor of compileService(table, namesOf(records), view.names, compiled, own)) acquire(view.emptyNonTerminals, ancestor);
  placeNames(table);
  return compiled;
}

function acquire<K>(counts: Map<K, number>, key: K): void {
  const count = counts.get(key);
  counts.set(count === undefined ? ownCopy(key) : key, (count ?? 0) + 1);
}

// A name key of its own to keep: one cut from a longer one keeps all of it alive.
const ownCopy = <K>(key: K): K => (typeof key === 'string' ? (Buffer.from(key, 'latin1').toString('latin1') as K) : key);

function release<K>(counts: Map<K, number>, key: K): void {
  const count = (counts.get(key) ?? 0) - 1;
  if (count > 0) counts.set(key, count);
  else counts.delete(key);
}

// Every zone's apex SOA and NS, and dns-version TXT.
function addFixedNames(table: AnswerTable): void {
  const first = writtenNames.count;
  table.zones.forEach((zone, z) => {
    writeApex(zone.key, z, table.ttl);
    if (findZone(table.zones, nameKey(VERSION_NAME, zone.key)) === z) writeVersion(zone.key, z);
  });
  pend(table.names, table.fixed, first);
}
