// Writes the records that follow the question of a response, once, when
// answers are compiled (and zone transfers, see transfer.ts). Names are
// zone-relative name keys (see wire.ts nameKey), compressed against the
// question, which always sits at offset 12 with the same length whatever its
// letter case, and against names written earlier in the tail. SRV targets are
// the exception: dotted names, written in full (RFC 2782); later names may
// point into them (pointIntoTargets, for transfers). Tails are written one
// after the other into one buffer, with whatever the caller writes between
// them (nameWriter.ts: the RRsets' headers): 100k names must not cost 100k buffers.

import { writeAddress } from './addressBytes.js';
import { CLASS_IN, HEADER_LENGTH, MAX_POINTER_TARGET, TYPE, isLabelStart, nameKey, writeU16, writeU32 } from './wire.js';

const QUESTION_FIXED_OCTETS = 1 + 4; // root label, QTYPE and QCLASS
const POINTER = 0xc000;
const RECORD_FIXED_OCTETS = 10; // TYPE, CLASS, TTL, RDLENGTH
// An answer record's owner is the question: a pointer to offset 12, so the
// record means the same wherever it sits and can be reordered. In an SRV
// record the target then starts here.
export const SRV_TARGET_OFFSET = 2 + RECORD_FIXED_OCTETS + 6;
// Additional A and AAAA records whose owner is a pointer left for the
// responder to aim at an SRV target: their length, by family.
export const POINTED_RECORD_LENGTH = { 4: 2 + RECORD_FIXED_OCTETS + 4, 6: 2 + RECORD_FIXED_OCTETS + 16 } as const;
const addressScratch = Buffer.alloc(16);
const INITIAL_BUFFER = 4096;
const MAX_KEPT_BUFFER = 1 << 20;

export interface SoaTimers {
  refresh: number;
  retry: number;
  expire: number;
  minimum: number;
}

export class TailWriter {
  // pointIntoTargets: later names may point into SRV targets. Compiled
  // answers have no use for it (their additional owners are set per response).
  constructor(private readonly pointIntoTargets = false) {}

  private buf = Buffer.allocUnsafe(INITIAL_BUFFER);
  private length = 0;
  private question: string | undefined; // undefined: only its length is known
  private questionLength = 0;
  private zone = ''; // the zone's name key, for names written in full
  private tailBegin = 0; // where the current tail starts in `buf`
  private messageOffset = 0; // where it starts in its message
  private soaSerialAt = -1;
  private readonly written = new Map<string, number>(); // names written in this tail → message offset

  get tailOffset(): number {
    return this.tailBegin;
  }

  get size(): number {
    return this.length;
  }

  // Where the current tail holds an SOA serial, relative to the tail; -1 when none.
  get serialAt(): number {
    return this.soaSerialAt;
  }

  // Starts a tail after `question`, a zone-relative name key, in the zone
  // with name key `zone`.
  begin(question: string, zone: string): void {
    this.start(question, question.length, zone);
  }

  // Starts a tail shared by every name of one length: only the zone apex,
  // which ends the question, can be pointed at.
  beginAnyName(questionLength: number, zone: string): void {
    this.start(undefined, questionLength, zone);
  }

  // Every tail written since the last take, and a fresh start.
  takeBytes(): Buffer {
    const bytes = Buffer.allocUnsafe(this.length);
    this.buf.copy(bytes, 0, 0, this.length);
    this.rewind(0);
    return bytes;
  }

  // What was written at [start, end) to `target` at `at`.
  copyTo(target: Buffer, at: number, start: number, end: number): void {
    this.buf.copy(target, at, start, end);
  }

  // Forgets what was written from `size` on.
  rewind(size: number): void {
    this.length = size;
    if (size === 0 && this.buf.length > MAX_KEPT_BUFFER) this.buf = Buffer.allocUnsafe(INITIAL_BUFFER); // what one large service needed is not kept
  }

  // Room for a header written later with setU16 and setU32.
  skip(n: number): void {
    this.reserve(n);
    this.length += n;
  }

  // An A record (family 4) or AAAA (6); false, writing nothing, when
  // `address` is not an address of that family.
  address(owner: string, ttl: number, family: 4 | 6, address: string): boolean {
    const size = writeAddress(family, address, addressScratch, 0);
    if (size === 0) return false;
    this.name(owner);
    this.addressData(family, ttl, size);
    return true;
  }

  // As address(), with an owner the responder points at an SRV target
  // (POINTED_RECORD_LENGTH octets).
  pointedAddress(ttl: number, family: 4 | 6, address: string): boolean {
    const size = writeAddress(family, address, addressScratch, 0);
    if (size === 0) return false;
    this.u16(POINTER);
    this.addressData(family, ttl, size);
    return true;
  }

  // The target is a zone-relative dotted name ("web.prod.svc"), written in full.
  srv(owner: string, ttl: number, priority: number, weight: number, port: number, target: string): void {
    const lengthAt = this.beginData(owner, TYPE.SRV, ttl);
    this.u16(priority);
    this.u16(weight);
    this.u16(port);
    this.fullName(target);
    this.endData(lengthAt);
  }

  ns(owner: string, ttl: number, host: string): void {
    const lengthAt = this.beginData(owner, TYPE.NS, ttl);
    this.name(host);
    this.endData(lengthAt);
  }

  txt(owner: string, ttl: number, text: string): void {
    const lengthAt = this.beginData(owner, TYPE.TXT, ttl);
    this.u8(text.length);
    this.latin1(text, 0, text.length);
    this.endData(lengthAt);
  }

  // Compiled answers leave the serial 0: the responder writes the view's (see serialAt).
  soa(owner: string, ttl: number, mname: string, rname: string, timers: SoaTimers, serial = 0): void {
    const lengthAt = this.beginData(owner, TYPE.SOA, ttl);
    this.name(mname);
    this.name(rname);
    this.soaSerialAt = this.length - this.tailBegin;
    for (const n of [serial, timers.refresh, timers.retry, timers.expire, timers.minimum]) this.u32(n);
    this.endData(lengthAt);
  }

  private start(question: string | undefined, questionLength: number, zone: string): void {
    this.question = question;
    this.questionLength = questionLength;
    this.zone = zone;
    this.messageOffset = HEADER_LENGTH + questionLength + zone.length + QUESTION_FIXED_OCTETS;
    this.tailBegin = this.length;
    this.soaSerialAt = -1;
    if (this.written.size > 0) this.written.clear(); // clear() allocates, and most tails remember nothing
  }

  private header(owner: string, type: number, ttl: number): void {
    this.name(owner);
    this.fixed(type, ttl);
  }

  private fixed(type: number, ttl: number): void {
    this.u16(type);
    this.u16(CLASS_IN);
    this.u32(ttl);
  }

  private addressData(family: 4 | 6, ttl: number, size: number): void {
    this.fixed(family === 4 ? TYPE.A : TYPE.AAAA, ttl);
    this.u16(size);
    this.reserve(size);
    for (let i = 0; i < size; i++) this.buf[this.length++] = addressScratch[i]!; // Buffer.copy costs more for 4 octets
  }

  // A record's owner and fixed fields; returns where RDLENGTH goes, for endData.
  private beginData(owner: string, type: number, ttl: number): number {
    this.header(owner, type, ttl);
    const lengthAt = this.length;
    this.u16(0);
    return lengthAt;
  }

  private endData(lengthAt: number): void {
    this.setU16(lengthAt, this.length - lengthAt - 2);
  }

  // Labels up to the longest suffix already in the message, then a pointer
  // (every name ends in the zone apex, which ends the question).
  private name(key: string): void {
    if (key === this.question) return this.u16(POINTER | HEADER_LENGTH); // most owners
    for (let at = 0; ; at += key.charCodeAt(at) + 1) {
      const rest = key.length - at;
      if (rest === 0) return this.u16(POINTER | (HEADER_LENGTH + this.questionLength));
      const inQuestion = this.questionLength - rest;
      const suffix = at === 0 ? key : key.slice(at);
      if (this.question !== undefined && inQuestion >= 0 && this.question.endsWith(suffix) && isLabelStart(this.question, inQuestion)) {
        return this.u16(POINTER | (HEADER_LENGTH + inQuestion));
      }
      const known = this.written.get(suffix);
      if (known !== undefined) return this.u16(POINTER | known);
      this.label(key, at, suffix);
    }
  }

  // Every label of the dotted name, the zone's too, and the root.
  private fullName(dotted: string): void {
    if (this.pointIntoTargets) {
      const key = nameKey(dotted);
      for (let at = 0; at < key.length; at += key.charCodeAt(at) + 1) this.label(key, at, at === 0 ? key : key.slice(at));
    } else this.dottedLabels(dotted);
    this.latin1(this.zone, 0, this.zone.length);
    this.u8(0);
  }

  // "web.prod.svc" as labels, the way nameKey makes a key, without the string.
  private dottedLabels(dotted: string): void {
    this.reserve(dotted.length + 1);
    let lengthAt = this.length++;
    for (let i = 0; i < dotted.length; i++) {
      const c = dotted.charCodeAt(i);
      if (c !== 0x2e) this.buf[this.length++] = c;
      else {
        this.buf[lengthAt] = this.length - lengthAt - 1;
        lengthAt = this.length++;
      }
    }
    this.buf[lengthAt] = this.length - lengthAt - 1;
  }

  // The label of `key` at `at`, remembered as where `suffix` starts.
  private label(key: string, at: number, suffix: string): void {
    const here = this.messageOffset + this.length - this.tailBegin;
    if (here <= MAX_POINTER_TARGET && !this.written.has(suffix)) this.written.set(suffix, here);
    this.latin1(key, at, at + key.charCodeAt(at) + 1);
  }

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(grown, 0, 0, this.length);
    this.buf = grown;
  }

  u8(n: number): void {
    this.reserve(1);
    this.buf[this.length++] = n;
  }

  u16(n: number): void {
    this.reserve(2);
    this.setU16(this.length, n);
    this.length += 2;
  }

  u32(n: number): void {
    this.reserve(4);
    this.setU32(this.length, n);
    this.length += 4;
  }

  setU8(at: number, n: number): void {
    this.buf[at] = n;
  }

  setU16(at: number, n: number): void {
    writeU16(this.buf, at, n);
  }

  setU32(at: number, n: number): void {
    writeU32(this.buf, at, n);
  }

  // text[start, end) as latin1.
  latin1(text: string, start: number, end: number): void {
    this.reserve(end - start);
    for (let i = start; i < end; i++) this.buf[this.length++] = text.charCodeAt(i);
  }
}
