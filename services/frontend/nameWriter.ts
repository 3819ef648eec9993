// Writes compiled names and RRsets (rrset.ts) for answers.ts: a name's A,
// AAAA and SRV RRsets from the view's records, a zone's fixed names, and the
// answers without a name (NODATA, NXDOMAIN, errors). Names go to one scratch
// writer, `written`, from which answers.ts copies them to its arena.

import type { ViewRecord } from '../../shared/view.js';
import type { ServiceNames } from '../../shared/viewBuilder.js';
import { ownFirst } from './ownCluster.js';
import { ANCOUNT, FLAGS, NAME_RRSETS, NEXT, NO_SERIAL, NSCOUNT, QTYPE, RRSET_HEADER, SERIAL_AT, TAIL_END, type Answer } from './rrset.js';
import { Offsets } from './offsets.js';
import { TailWriter } from './tailWriter.js';
import { FLAG, MAX_NAME_LENGTH, RCODE, TYPE, nameKey } from './wire.js';

export const VERSION_NAME = 'dns-version';
const VERSION_TEXT = '1.0.0';
const VERSION_TTL = 28800;
const NAMESERVER = 'ns.dns';
const HOSTMASTER = 'hostmaster';
const SOA_TIMERS = { refresh: 7200, retry: 1800, expire: 86400 };
const VERSION_KEY = nameKey(VERSION_NAME);

// Writing is synchronous, so one scratch writer serves every name,
// `writtenNames` holds where each name in it starts, and `ends` where each
// record of the RRset being written ends (from its tail).
export const written = new TailWriter();
export const writtenNames = new Offsets();
const ends = new Offsets();

const authoritative = (rcode: number): number => FLAG.QR | FLAG.AA | rcode;

// Writes the name of key `key` relative to the zone of key `zone`, index
// `z`, and its RRsets (A, AAAA, SRV: those it has). `own`: the view
// cluster's own records (ownCluster.ts), written first. `port`: a name whose
// records are this one's SRV records alone (sharedSrvNames), written next:
// sharing the SRV RRset when this name has an RRset before it (rrset.ts).
export function writeName(key: string, z: number, zone: string, records: ViewRecord[], service: ServiceNames, ttl: number, own: Set<string> | undefined, port?: PortName): void {
  const start = beginName(key, z);
  const ordered = own ? ownFirst(records, own) : records;
  const types = typesOf(ordered);
  const a = types & HAS_A ? writeAddresses(key, zone, TYPE.A, 4, ordered, ttl, own) : -1;
  const aaaa = types & HAS_AAAA ? writeAddresses(key, zone, TYPE.AAAA, 6, ordered, ttl, own) : -1;
  let rrsets = (a >= 0 ? 1 : 0) + (aaaa >= 0 ? 1 : 0);
  const last = Math.max(a, aaaa); // where the last RRset written starts
  const services = types & HAS_SRV ? ordered.filter(isServableSrv) : NO_SRV;
  const share = port !== undefined && last >= 0 && services.length > 0;
  if (share) {
    written.setU8(beginName(port.key, z) + NAME_RRSETS, 1);
    endRRset(last); // its NEXT now leads past the port's header
  }
  if (services.length > 0) {
    writeSrv(key, zone, services, service, ttl, own);
    rrsets++;
  }
  written.setU8(start + NAME_RRSETS, rrsets);
  if (port !== undefined && !share) writeName(port.key, z, zone, port.records, service, ttl, own);
}

// Which types of records there are, as HAS_ bits: most names have one
// record, and writing an RRset to find it has none costs more.
const HAS_A = 1;
const HAS_AAAA = 2;
const HAS_SRV = 4;
const TYPE_BITS = { A: HAS_A, AAAA: HAS_AAAA, SRV: HAS_SRV } as const;

function typesOf(records: ViewRecord[]): number {
  let types = 0;
  for (let i = 0; i < records.length; i++) types |= TYPE_BITS[records[i]!.type];
  return types;
}

export const hasSrv = (records: ViewRecord[]): boolean => (typesOf(records) & HAS_SRV) !== 0;

export interface PortName {
  key: string;
  records: ViewRecord[];
}

// A service's name → the one _port._proto name whose records are just the
// service name's SRV records, when there is one: a service with one named
// port (its SRV RRset, hundreds of records when headless, is then compiled once).
export function sharedSrvNames(service: ServiceNames): Map<string, string> | undefined {
  let ports: string[] | undefined; // names with SRV records alone
  let names: string[] | undefined; // names with SRV records and others
  service.forEach((records, name) => {
    let srv = 0;
    for (let i = 0; i < records.length; i++) if (records[i]!.type === 'SRV') srv++;
    if (srv === 0) return;
    if (srv === records.length) (ports ??= []).push(name);
    else (names ??= []).push(name);
  });
  if (!ports || !names) return undefined;
  const shared = new Map<string, string>();
  for (const name of names) {
    const port = ports.find((p) => sameSrv(service.get(name)!, service.get(p)!));
    if (port === undefined) continue;
    shared.set(name, port);
    ports.splice(ports.indexOf(port), 1); // shared by one name only
  }
  return shared;
}

// Whether the SRV records of `records` are `srv`, in order.
function sameSrv(records: ViewRecord[], srv: ViewRecord[]): boolean {
  let i = 0;
  for (const r of records) {
    if (r.type !== 'SRV') continue;
    const s = srv[i++];
    if (s !== r && !(s?.type === 'SRV' && s.port === r.port && s.priority === r.priority && s.weight === r.weight && s.target === r.target)) return false;
  }
  return i === srv.length;
}

// The apex (SOA, NS) of the zone of key `zone`, index `z`.
export function writeApex(zone: string, z: number, ttl: number): void {
  const start = beginName('', z);
  writeOneRecord(TYPE.SOA, '', zone, (w) => writeZoneSoa(w, ttl));
  writeOneRecord(TYPE.NS, '', zone, (w) => writeZoneNs(w, ttl));
  written.setU8(start + NAME_RRSETS, 2);
}

// dns-version TXT in the zone of key `zone`, index `z`.
export function writeVersion(zone: string, z: number): void {
  const start = beginName(VERSION_KEY, z);
  writeOneRecord(TYPE.TXT, VERSION_KEY, zone, writeVersionTxt);
  written.setU8(start + NAME_RRSETS, 1);
}

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

// An answer without records: only flags.
export function noRecords(flags: number): Answer {
  written.rewind(0);
  const at = beginRRset();
  written.begin('', '');
  endRecords(at, 0, flags, 0, 0);
  endRRset(at);
  return { block: written.takeBytes(), at };
}

// One NODATA and one NXDOMAIN answer per possible length of a name
// relative to the zone of key `zone`: the SOA they carry only points at the
// apex, which ends the question.
export function negativeAnswers(zone: string, ttl: number): { nodata: Answer[]; nxdomain: Answer[] } {
  const nodata: number[] = [];
  const nxdomain: number[] = [];
  written.rewind(0);
  for (let length = 0; length + zone.length + 1 <= MAX_NAME_LENGTH; length++) {
    for (const [list, rcode] of [
      [nodata, RCODE.NOERROR],
      [nxdomain, RCODE.NXDOMAIN],
    ] as const) {
      const at = beginRRset();
      written.beginAnyName(length, zone);
      writeZoneSoa(written, ttl);
      endRecords(at, 0, authoritative(rcode), 1, 0);
      endRRset(at);
      list.push(at);
    }
  }
  const block = written.takeBytes();
  return { nodata: nodata.map((at) => ({ block, at })), nxdomain: nxdomain.map((at) => ({ block, at })) };
}

// View names are Kubernetes names, port names and cluster ids: anything else
// could not be written as labels and is left out. As
// /^[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})*$/, without a regular expression:
// this runs for every name and SRV target compiled.
export function isValidName(name: string): boolean {
  let label = 0;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 0x2e) {
      if (label === 0) return false;
      label = 0;
    } else if (((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x2d) && label < 63) label++;
    else return false;
  }
  return label > 0;
}

const isServableSrv = (r: ViewRecord): r is SrvRecord => r.type === 'SRV' && isUint16(r.priority) && isUint16(r.weight) && isUint16(r.port) && isValidName(r.target);

type SrvRecord = Extract<ViewRecord, { type: 'SRV' }>;
const ADDRESS_FAMILIES = [4, 6] as const;
const NO_SRV: readonly SrvRecord[] = []; // one for every name without SRV records, never written to
const isUint16 = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 0xffff;

// A name's header (rrset.ts): its zone, its RRsets' count (set when
// written), its key.
function beginName(key: string, z: number): number {
  const start = written.size;
  writtenNames.push(start);
  written.u8(z);
  written.u8(0);
  written.u8(key.length);
  written.latin1(key, 0, key.length);
  return start;
}

// The records of `family`, when there is one it can write: returns where
// the RRset starts, -1 when there is none.
function writeAddresses(key: string, zone: string, qtype: number, family: 4 | 6, records: ViewRecord[], ttl: number, own: Set<string> | undefined): number {
  const at = beginRRset();
  written.begin(key, zone);
  const type = family === 4 ? 'A' : 'AAAA';
  let mine = 0;
  for (const r of records) {
    if (r.type !== type || !written.address(key, ttl, family, r.address)) continue;
    ends.push(written.size - written.tailOffset);
    if (own?.has(r.address)) mine++;
  }
  if (ends.count === 0) {
    written.rewind(at);
    return -1;
  }
  endRecords(at, qtype, authoritative(RCODE.NOERROR), 0, mine);
  endRRset(at);
  return at;
}

function writeSrv(key: string, zone: string, services: readonly SrvRecord[], service: ServiceNames, ttl: number, own: Set<string> | undefined): void {
  const at = beginRRset();
  written.begin(key, zone);
  for (const r of services) {
    written.srv(key, ttl, r.priority, r.weight, r.port, r.target);
    ends.push(written.size - written.tailOffset);
  }
  endRecords(at, TYPE.SRV, authoritative(RCODE.NOERROR), 0, own ? services.filter((r) => own.has(r.target)).length : 0);
  writeTargetAddresses(services, service, ttl);
  endRRset(at);
}

// The SRV tables (rrset.ts) of the records just written, and their targets'
// addresses. Targets lie in the service's own names (its name or its
// endpoints'), so a delta never has to recompile another service for them.
function writeTargetAddresses(services: readonly SrvRecord[], service: ServiceNames, ttl: number): void {
  numberTargets(services);
  written.u32(firstRecords.count);
  for (let i = 0; i < services.length; i++) written.u32(targetNumbers.at(i));
  let rrsets = written.size;
  written.skip(16 * firstRecords.count);
  for (let t = 0; t < firstRecords.count; t++) {
    const records = service.get(services[firstRecords.at(t)]!.target) ?? [];
    for (const family of ADDRESS_FAMILIES) {
      written.setU32(rrsets, written.size - written.tailOffset);
      for (let i = 0; i < records.length; i++) {
        const r = records[i]!;
        if (r.type === (family === 4 ? 'A' : 'AAAA')) written.pointedAddress(ttl, family, r.address);
      }
      written.setU32(rrsets + 4, written.size - written.tailOffset);
      rrsets += 8;
    }
  }
}

// Each target once, by its number (a headless service has hundreds):
// `targetNumbers` by record, `firstRecords` by target number.
const targetNumbers = new Offsets();
const firstRecords = new Offsets();

// Sorted by target, as the record model sorts them, equal targets are
// neighbours; in any other order a Map finds them.
function numberTargets(services: readonly SrvRecord[]): void {
  targetNumbers.clear();
  firstRecords.clear();
  for (let i = 0; i < services.length; i++) {
    const target = services[i]!.target;
    const previous = i > 0 ? services[i - 1]!.target : undefined;
    if (previous !== undefined && target < previous) return numberTargetsInAnyOrder(services);
    if (target !== previous) firstRecords.push(i);
    targetNumbers.push(firstRecords.count - 1);
  }
}

function numberTargetsInAnyOrder(services: readonly SrvRecord[]): void {
  targetNumbers.clear();
  firstRecords.clear();
  const numbers = new Map<string, number>();
  services.forEach((r, i) => {
    let number = numbers.get(r.target);
    if (number === undefined) {
      number = numbers.size;
      numbers.set(r.target, number);
      firstRecords.push(i);
    }
    targetNumbers.push(number);
  });
}

// Starts an RRset: room for its header, which endRecords fills in. Its tail
// follows once the writer begins one.
function beginRRset(): number {
  const at = written.size;
  written.skip(RRSET_HEADER);
  ends.clear();
  return at;
}

// Fills in the header of the RRset at `at`, whose tail ends here and whose
// records end at `ends`, and writes its rotation. `preferred`: how many
// records, first, are the view cluster's own. endRRset finishes it.
function endRecords(at: number, qtype: number, flags: number, nscount: number, preferred: number): void {
  written.setU16(at + QTYPE, qtype);
  written.setU16(at + FLAGS, flags);
  written.setU16(at + NSCOUNT, nscount);
  written.setU16(at + SERIAL_AT, written.serialAt < 0 ? NO_SERIAL : written.serialAt);
  written.setU32(at + ANCOUNT, ends.count);
  written.setU32(at + TAIL_END, written.size - at - RRSET_HEADER);
  if (ends.count < 2) return;
  written.u32(preferred < ends.count ? preferred : 0);
  written.u32(0); // the turn
  for (let i = 0; i < ends.count; i++) written.u32(ends.at(i));
}

function endRRset(at: number): void {
  written.setU32(at + NEXT, written.size - at);
}

// An RRset of one record written by `write`.
function writeOneRecord(qtype: number, question: string, zone: string, write: (w: TailWriter) => void): void {
  const at = beginRRset();
  written.begin(question, zone);
  write(written);
  ends.push(written.size - written.tailOffset);
  endRecords(at, qtype, authoritative(RCODE.NOERROR), 0, 0);
  endRRset(at);
}
