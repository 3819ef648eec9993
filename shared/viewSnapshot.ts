// The view snapshot's format 2: the DNS view as compact bytes, because a
// frontend starting at 100,000 names spent over a second on gunzip,
// JSON.parse and validation of 30 MB of JSON. The strings are in one table,
// the rest are unsigned LEB128 numbers. Reading checks as it goes: what comes
// out is a DnsView, or an error saying where the bytes stopped making one.
//
//   "MCSV", the format (one byte)
//   strings: all of them as one UTF-8 run (byte count, bytes), then count × length in bytes
//   version; clusters: count × (id, synced 0|1); namespaces: count × string
//   services: count × (key, names)
//   views: count × (cluster id, count × (key, 0: no name there | 1: names))
//   names: count × (name, count × (0 A address | 1 AAAA address | 2 SRV priority weight port target))
//
// Strings are numbered in the order they are first referred to, and a
// reference is 0 for the next new one, else how far back it is: most are new
// and the rest near, which compresses far better than numbers up to 200,000.
import { isClusterId } from './events.js';
import { recordsOf, type ViewBuilder, type ViewHead } from './viewBuilder.js';
import { nameRecord, type ClusterState, type DnsView, type ServiceOverlay, type ServiceRecords, type ViewRecord } from './view.js';

export const VIEW_FORMAT = 2;
const MAGIC = Buffer.from('MCSV', 'latin1');
const TAG = { A: 0, AAAA: 1, SRV: 2 } as const;
const SERVICE_KEY = /^[^/]+\/[^/]+$/; // "<ns>/<svc>"
const UINT16_MAX = 0xffff;

// Whether `data` starts as a snapshot of format 2 or later does; its format then is data[4].
export function isBinaryView(data: Uint8Array): boolean {
  return data.length > MAGIC.length && MAGIC.every((b, i) => data[i] === b);
}

export function writeView(view: DnsView): Buffer {
  const w = new SnapshotWriter();
  w.uint(view.version);
  w.uint(view.clusters.length);
  for (const c of view.clusters) {
    w.string(c.id);
    w.byte(c.synced ? 1 : 0);
  }
  w.uint(view.namespaces.length);
  for (const n of view.namespaces) w.string(n);
  const services = Object.keys(view.services);
  w.uint(services.length);
  for (const key of services) {
    w.key(key);
    w.names(view.services[key]!);
  }
  const views = Object.entries(view.views ?? {});
  w.uint(views.length);
  for (const [cluster, overlay] of views) {
    w.string(cluster);
    const keys = Object.keys(overlay);
    w.uint(keys.length);
    for (const key of keys) {
      const records = overlay[key] ?? null;
      w.key(key);
      w.byte(records ? 1 : 0);
      if (records) w.names(records);
    }
  }
  return w.finish();
}

// Throws a MalformedView naming what is wrong and where when `data` is no view of format 2.
export function readView(data: Buffer): DnsView {
  const { r, head } = openView(data);
  const view: DnsView = { ...head, services: nameRecord() };
  for (let n = r.count(); n > 0; n--) view.services[r.serviceKey()] = recordsOf(r.nameMap());
  readOverlays(r, (cluster, overlay) => ((view.views ??= {})[cluster] = overlay));
  return view;
}

// Hands the view in `data` to `builder` as it reads it, service by service.
// Throws as readView does; what the builder was handed by then is no view
// either (it never gets done()).
export function readViewInto(data: Buffer, builder: ViewBuilder): void {
  const { r, head } = openView(data);
  builder.head(head);
  for (let n = r.count(); n > 0; n--) builder.service(r.serviceKey(), r.nameMap());
  readOverlays(r, (cluster, overlay) => builder.overlay(cluster, overlay));
  builder.done();
}

// Throws as readView does when the bytes up to the services are no view.
export function readViewHead(data: Buffer): ViewHead {
  return openView(data).head;
}

function openView(data: Buffer): { r: SnapshotReader; head: ViewHead } {
  if (!isBinaryView(data)) throw new MalformedView('not a binary view snapshot (no "MCSV" header)');
  const format = data[MAGIC.length]!;
  if (format !== VIEW_FORMAT) throw new MalformedView(`view snapshot format ${format} is not one this version reads (1 and ${VIEW_FORMAT}); a newer aggregator wrote it`);
  const r = new SnapshotReader(data, MAGIC.length + 1);
  const version = r.uint();
  const clusters: ClusterState[] = [];
  for (let n = r.count(); n > 0; n--) clusters.push({ id: r.string(), synced: r.flag() });
  const namespaces: string[] = [];
  for (let n = r.count(); n > 0; n--) namespaces.push(r.string());
  return { r, head: { version, clusters, namespaces } };
}

// The overlays, then the end of the bytes.
function readOverlays(r: SnapshotReader, each: (cluster: string, overlay: ServiceOverlay) => void): void {
  for (let n = r.count(); n > 0; n--) {
    const cluster = r.string();
    if (!isClusterId(cluster)) r.fail(`an overlay of ${JSON.stringify(cluster)}, which is no cluster id`);
    const overlay: ServiceOverlay = nameRecord();
    for (let e = r.count(); e > 0; e--) {
      const key = r.serviceKey();
      overlay[key] = r.flag() ? recordsOf(r.nameMap()) : null;
    }
    each(cluster, overlay);
  }
  r.end();
}

// The bytes are no view snapshot this version reads.
export class MalformedView extends Error {}

class SnapshotWriter {
  private readonly body = new ByteWriter();
  private readonly text = new ByteWriter(); // every string, in the order first referred to
  private readonly lengths = new ByteWriter(); // each one's in bytes
  private count = 0; // of strings
  // A string is looked up among those of the service being written, not all
  // of them: a Map of dozens, not of 200,000, takes a third off writing. A
  // string two services share is stored twice.
  private scope = new Map<string, number>();

  byte(b: number): void {
    this.body.byte(b);
  }

  uint(n: number): void {
    this.body.uint(n);
  }

  string(s: string): void {
    const index = this.scope.get(s);
    if (index !== undefined) return this.body.uint(this.count - index);
    this.scope.set(s, this.count++);
    this.lengths.uint(this.text.utf8(s));
    this.body.byte(0);
  }

  // A service key starts a service: its strings are looked up among its own.
  key(key: string): void {
    this.scope = new Map();
    this.string(key);
  }

  names(records: ServiceRecords): void {
    const names = Object.keys(records.names);
    this.body.uint(names.length);
    for (const name of names) {
      const list = records.names[name]!;
      this.string(name);
      this.body.uint(list.length);
      for (const r of list) this.record(r);
    }
  }

  finish(): Buffer {
    const head = new ByteWriter();
    for (const b of MAGIC) head.byte(b);
    head.byte(VIEW_FORMAT);
    head.uint(this.text.bytes().length);
    const count = new ByteWriter();
    count.uint(this.count);
    return Buffer.concat([head.bytes(), this.text.bytes(), count.bytes(), this.lengths.bytes(), this.body.bytes()]);
  }

  private record(r: ViewRecord): void {
    this.body.byte(TAG[r.type]);
    if (r.type !== 'SRV') return this.string(r.address);
    this.uint16(r.priority);
    this.uint16(r.weight);
    this.uint16(r.port);
    this.string(r.target);
  }

  private uint16(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n > UINT16_MAX) throw new Error(`SRV priority, weight and port are 16-bit numbers, not ${n}`);
    this.body.uint(n);
  }
}

class ByteWriter {
  private buffer = Buffer.allocUnsafe(1024); // grows by doubling: a delta of one service stays small
  private length = 0;

  byte(b: number): void {
    this.room(1);
    this.buffer[this.length++] = b;
  }

  uint(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`a view snapshot holds whole numbers from 0 to 2^53 - 1, not ${n}`);
    this.room(8);
    for (; n > 127; n = Math.floor(n / 128)) this.buffer[this.length++] = (n & 127) | 128;
    this.buffer[this.length++] = n;
  }

  // Returns how many bytes it took.
  utf8(s: string): number {
    this.room(3 * s.length);
    const written = this.buffer.write(s, this.length, 'utf8');
    this.length += written;
    return written;
  }

  bytes(): Buffer {
    return this.buffer.subarray(0, this.length);
  }

  private room(n: number): void {
    if (this.length + n <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(2 * (this.length + n));
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }
}

// Strings are decoded when first referred to, and remembered while their
// service is read: the writer refers back only within a service, so what a
// builder does not keep of a service is garbage right after it (a reference
// further back is decoded again).
class SnapshotReader {
  // Where each string starts in `data`, one more for the end of the last:
  // known up to the last string referred to. Strings are numbered in the
  // order first referred to, so each new one's length is the next in the table.
  private readonly starts: Uint32Array;
  private readonly textEnd: number;
  private lengthsAt: number; // the next new string's length
  private seen = 0; // strings referred to so far
  private scope = 0; // the first string of the service being read
  private readonly strings: (string | undefined)[] = []; // from `scope` on
  // Records are never edited (view.ts), so equal ones can be one object: an
  // endpoint's address record sits at its own name and at the service's, its
  // SRV record at the service's name and at the port's. By string index from
  // `scope` on: the last record made with that address or target.
  private readonly records: (ViewRecord | undefined)[] = [];

  // Skips the string table: what reads only the head reads none of it.
  constructor(
    private readonly data: Buffer,
    private at: number,
  ) {
    const size = this.count();
    const textStart = this.at;
    this.textEnd = this.at += size;
    const count = this.count();
    this.lengthsAt = this.at;
    for (let n = 0; n < count; ) if (this.byte() < 128) n++;
    this.starts = new Uint32Array(count + 1);
    this.starts[0] = textStart;
  }

  fail(what: string): never {
    throw new MalformedView(`the view snapshot is malformed at byte ${this.at}: ${what}`);
  }

  end(): void {
    if (this.at !== this.data.length) this.fail('bytes after the view');
    const count = this.starts.length - 1;
    if (this.seen !== count) this.fail(`${count - this.seen} strings nothing refers to`);
    if (this.starts[count] !== this.textEnd) this.fail('the strings are longer than their lengths');
  }

  byte(): number {
    if (this.at >= this.data.length) this.fail('it ends early');
    return this.data[this.at++]!;
  }

  flag(): boolean {
    const b = this.byte();
    if (b > 1) this.fail(`${b} where 0 or 1 belongs`);
    return b === 1;
  }

  uint(): number {
    let n = 0;
    for (let scale = 1; ; scale *= 128) {
      const b = this.byte();
      n += (b & 127) * scale;
      if (b < 128) break;
      if (scale > 2 ** 46) this.fail('a number over 2^53');
    }
    if (!Number.isSafeInteger(n)) this.fail('a number over 2^53');
    return n;
  }

  // Every counted item takes at least a byte: a count past the end is corrupt,
  // and never makes a loop run long.
  count(): number {
    const n = this.uint();
    if (n > this.data.length - this.at) this.fail(`a count of ${n} with ${this.data.length - this.at} bytes left`);
    return n;
  }

  string(): string {
    return this.stringAt(this.stringIndex());
  }

  // A service key starts a service, and a new scope of strings. The caches
  // are emptied, not cut: cut, they would grow afresh for every service.
  serviceKey(): string {
    const used = this.seen - this.scope;
    this.strings.fill(undefined, 0, used);
    this.records.fill(undefined, 0, used);
    this.scope = this.seen;
    const key = this.string();
    if (!SERVICE_KEY.test(key)) this.fail(`the service key ${JSON.stringify(key)} is no "<ns>/<svc>"`);
    return key;
  }

  nameMap(): Map<string, ViewRecord[]> {
    const names = new Map<string, ViewRecord[]>();
    this.eachName((name, list) => names.set(name, list));
    return names;
  }

  private eachName(add: (name: string, list: ViewRecord[]) => void): void {
    for (let n = this.count(); n > 0; n--) {
      const name = this.string();
      if (name === '__proto__') this.fail('a name "__proto__"'); // no DNS name, and it would not be an own key
      const count = this.count();
      const list: ViewRecord[] = new Array(count);
      for (let c = 0; c < count; c++) list[c] = this.record();
      add(name, list);
    }
  }

  // Where string `index`, referred to for the first time, ends.
  private indexString(index: number): void {
    let length = 0;
    for (let scale = 1; ; scale *= 128) {
      const b = this.data[this.lengthsAt++]!; // the constructor found `count` lengths
      length += (b & 127) * scale;
      if (b < 128) break;
      if (scale > 2 ** 46) this.fail('a number over 2^53');
    }
    const end = this.starts[index]! + length;
    if (end > this.textEnd) this.fail('the string lengths exceed the strings');
    this.starts[index + 1] = end;
  }

  private stringAt(index: number): string {
    if (index < this.scope) return this.decode(index);
    return (this.strings[index - this.scope] ??= this.decode(index));
  }

  // Each string decoded on its own: slices of one decoded run were quicker
  // to make, but compiling the answers from them took longer than that saved.
  private decode(index: number): string {
    return this.data.toString('utf8', this.starts[index]!, this.starts[index + 1]!);
  }

  private record(): ViewRecord {
    const tag = this.byte();
    if (tag === TAG.A || tag === TAG.AAAA) {
      const type = tag === TAG.A ? 'A' : 'AAAA';
      const index = this.stringIndex();
      const known = this.recordAt(index);
      if (known?.type === type) return known;
      return this.remember(index, { type, address: this.stringAt(index) });
    }
    if (tag !== TAG.SRV) this.fail(`record type ${tag}`);
    const priority = this.uint16();
    const weight = this.uint16();
    const port = this.uint16();
    const index = this.stringIndex();
    const known = this.recordAt(index);
    if (known?.type === 'SRV' && known.priority === priority && known.weight === weight && known.port === port) return known;
    return this.remember(index, { type: 'SRV', priority, weight, port, target: this.stringAt(index) });
  }

  private recordAt(index: number): ViewRecord | undefined {
    return index < this.scope ? undefined : this.records[index - this.scope];
  }

  private remember(index: number, record: ViewRecord): ViewRecord {
    if (index >= this.scope) this.records[index - this.scope] = record;
    return record;
  }

  private stringIndex(): number {
    const back = this.uint();
    const index = back === 0 ? this.seen++ : this.seen - back;
    if (index < 0 || index >= this.starts.length - 1) this.fail(`string ${index} of ${this.starts.length - 1}`);
    if (back === 0) this.indexString(index);
    return index;
  }

  private uint16(): number {
    const n = this.uint();
    if (n > UINT16_MAX) this.fail(`${n} where a 16-bit number belongs`);
    return n;
  }
}
