// Writes the records that follow the question of a response, once, when
// answers are compiled (and zone transfers, see transfer.ts). Names are
// zone-relative name keys (see wire.ts nameKey), compressed against the
// question, which always sits at offset 12 with the same length whatever its
// letter case, and against names written earlier in the tail. SRV targets are
// the exception: written in full (RFC 2782); later names may point into them
// (pointIntoTargets, for transfers). Tails are written one after the other and taken together as one
// buffer: 100k names must not cost 100k buffers.

import { writeAddress } from './addressBytes.js';
import { CLASS_IN, HEADER_LENGTH, MAX_POINTER_TARGET, TYPE, isLabelStart } from './wire.js';

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

  private buf = Buffer.allocUnsafe(4096);
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
    this.length = 0;
    return bytes;
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

  // The target is a zone-relative name key, written in full.
  srv(owner: string, ttl: number, priority: number, weight: number, port: number, target: string): void {
    this.withData(owner, TYPE.SRV, ttl, () => {
      this.u16(priority);
      this.u16(weight);
      this.u16(port);
      this.fullName(target);
    });
  }

  ns(owner: string, ttl: number, host: string): void {
    this.withData(owner, TYPE.NS, ttl, () => this.name(host));
  }

  txt(owner: string, ttl: number, text: string): void {
    this.withData(owner, TYPE.TXT, ttl, () => {
      this.u8(text.length);
      this.latin1(text);
    });
  }

  // Compiled answers leave the serial 0: the responder writes the view's (see serialAt).
  soa(owner: string, ttl: number, mname: string, rname: string, timers: SoaTimers, serial = 0): void {
    this.withData(owner, TYPE.SOA, ttl, () => {
      this.name(mname);
      this.name(rname);
      this.soaSerialAt = this.length - this.tailBegin;
      for (const n of [serial, timers.refresh, timers.retry, timers.expire, timers.minimum]) this.u32(n);
    });
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
    this.length += addressScratch.copy(this.buf, this.length, 0, size);
  }

  private withData(owner: string, type: number, ttl: number, writeData: () => void): void {
    this.header(owner, type, ttl);
    const lengthAt = this.length;
    this.u16(0);
    writeData();
    this.buf.writeUInt16BE(this.length - lengthAt - 2, lengthAt);
  }

  // Labels up to the longest suffix already in the message, then a pointer
  // (every name ends in the zone apex, which ends the question).
  private name(key: string): void {
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

  // Every label, the zone's too, and the root.
  private fullName(key: string): void {
    if (this.pointIntoTargets) {
      for (let at = 0; at < key.length; at += key.charCodeAt(at) + 1) this.label(key, at, at === 0 ? key : key.slice(at));
    } else this.latin1(key);
    this.latin1(this.zone);
    this.u8(0);
  }

  // The label of `key` at `at`, remembered as where `suffix` starts.
  private label(key: string, at: number, suffix: string): void {
    const here = this.messageOffset + this.length - this.tailBegin;
    if (here <= MAX_POINTER_TARGET && !this.written.has(suffix)) this.written.set(suffix, here);
    this.latin1(key.slice(at, at + key.charCodeAt(at) + 1));
  }

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(grown, 0, 0, this.length);
    this.buf = grown;
  }

  private u8(n: number): void {
    this.reserve(1);
    this.length = this.buf.writeUInt8(n, this.length);
  }

  private u16(n: number): void {
    this.reserve(2);
    this.length = this.buf.writeUInt16BE(n, this.length);
  }

  private u32(n: number): void {
    this.reserve(4);
    this.length = this.buf.writeUInt32BE(n, this.length);
  }

  private latin1(text: string): void {
    this.reserve(text.length);
    this.length += this.buf.write(text, this.length, 'latin1');
  }
}
