// The DNS wire format as far as the frontend needs it: reading the header,
// the question and the OPT record of a query (by hand, no full decode on the
// hot path), writing OPT, and the numbers both directions share.

export const TYPE = { A: 1, NS: 2, SOA: 6, TXT: 16, AAAA: 28, SRV: 33, OPT: 41, IXFR: 251, AXFR: 252, ANY: 255 } as const;
export const CLASS_IN = 1;
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export const FLAG = { QR: 0x8000, AA: 0x0400, TC: 0x0200, RD: 0x0100 } as const;
export const OPCODE_MASK = 0x7800;
export const HEADER_LENGTH = 12;
export const MAX_NAME_LENGTH = 255;
export const MAX_POINTER_TARGET = 0x3fff; // a compression pointer has 14 bits of offset
export const EDNS_PAYLOAD_SIZE = 1232; // what we accept, advertised in our OPT (DNS flag day 2020)
export const OPT_LENGTH = 11; // root owner, fixed fields, no options
const MAX_LABEL_LENGTH = 63;
const OPTION_HEADER_LENGTH = 4; // code, length
const ECS_OPTION = 8; // EDNS Client Subnet, RFC 7871
const ECS_FIXED_LENGTH = 4; // family, source prefix, scope prefix
const ECS_FAMILIES: Record<number, { family: 4 | 6; bits: number }> = { 1: { family: 4, bits: 32 }, 2: { family: 6, bits: 128 } };

export interface Edns {
  version: number;
  payloadSize: number; // as advertised; callers apply the 512 floor and our own limit
  // Where the first Client Subnet option starts (its code), -1 when none;
  // read only for clients trusted with it (readClientSubnet).
  ecsAt: number;
  optEnd: number; // where the OPT record's data ends
}

// A Client Subnet option of a query (RFC 7871 §6), checked.
export interface ClientSubnet {
  family: 4 | 6;
  sourcePrefix: number;
  address: string; // the prefix's first address, as text
  at: number; // the option in the query: packet[at, at + length)
  length: number;
}

// A parsed query. Numbers only, so that one object can be filled again for
// every query of the hot path (respond.ts) without a write barrier or any
// allocation; other callers get one of their own.
export class Query {
  readonly kind = 'query';
  id = 0;
  flags = 0;
  nameEnd = 0; // where the question name's root label is
  questionEnd = 0; // offset just past QCLASS
  qtype = 0;
  qclass = 0;
  private hasOpt = false;
  private readonly opt: Edns = { version: 0, payloadSize: 0, ecsAt: -1, optEnd: 0 };

  // The OPT record's fields, when the query has one.
  get edns(): Edns | undefined {
    return this.hasOpt ? this.opt : undefined;
  }

  setEdns(version: number | undefined, payloadSize = 0, ecsAt = -1, optEnd = 0): void {
    this.hasOpt = version !== undefined;
    this.opt.version = version ?? 0;
    this.opt.payloadSize = payloadSize;
    this.opt.ecsAt = ecsAt;
    this.opt.optEnd = optEnd;
  }

  // The question name as lower-case wire labels in latin1, without the root
  // label: "\x03web\x04prod…". Unlike a dotted form it cannot confuse a "."
  // inside a label with a label boundary. Made when asked for: the answer
  // table finds names by the packet's octets.
  name(packet: Buffer): string {
    return packet.toString('latin1', HEADER_LENGTH, this.nameEnd).toLowerCase();
  }
}

// Answered with `rcode` and the header only: the question may not be readable.
export interface Rejected {
  kind: 'rejected';
  id: number;
  flags: number;
  rcode: typeof RCODE.FORMERR | typeof RCODE.NOTIMP;
  reason: string;
}

// Not answered at all: no header to answer to, or not a query.
export interface Ignored {
  kind: 'ignored';
  reason: string;
}

export type ParsedQuery = Query | Rejected | Ignored;

// `into`: the Query to fill (the hot path keeps one); a new one by default.
export function parseQuery(packet: Buffer, into = new Query()): ParsedQuery {
  if (packet.length < HEADER_LENGTH) return { kind: 'ignored', reason: 'shorter than a DNS header' };
  const id = packet.readUInt16BE(0);
  const flags = packet.readUInt16BE(2);
  if (flags & FLAG.QR) return { kind: 'ignored', reason: 'a response, not a query' };
  if (flags & OPCODE_MASK) return rejected(id, flags, RCODE.NOTIMP, `opcode ${(flags & OPCODE_MASK) >> 11} is not QUERY`);
  const qdcount = packet.readUInt16BE(4);
  if (qdcount !== 1) return rejected(id, flags, RCODE.FORMERR, `QDCOUNT is ${qdcount}, not 1`);

  let offset = HEADER_LENGTH;
  for (;;) {
    const length = packet[offset];
    if (length === undefined) return rejected(id, flags, RCODE.FORMERR, 'question name runs past the end');
    if (length === 0) break;
    if (length > MAX_LABEL_LENGTH) {
      return rejected(id, flags, RCODE.FORMERR, length >= 0xc0 ? 'compression pointer in the question' : 'label longer than 63 octets');
    }
    offset += length + 1;
    if (offset - HEADER_LENGTH + 1 > MAX_NAME_LENGTH) return rejected(id, flags, RCODE.FORMERR, 'name longer than 255 octets');
  }
  const questionEnd = offset + 5;
  if (questionEnd > packet.length) return rejected(id, flags, RCODE.FORMERR, 'question runs past the end');
  const problem = readEdns(packet, questionEnd, into);
  if (problem !== undefined) return rejected(id, flags, RCODE.FORMERR, problem);
  into.id = id;
  into.flags = flags;
  into.nameEnd = offset;
  into.questionEnd = questionEnd;
  into.qtype = packet.readUInt16BE(offset + 1);
  into.qclass = packet.readUInt16BE(offset + 3);
  return into;
}

// Not a closure in parseQuery: allocating one per query costs more than the parse.
function rejected(id: number, flags: number, rcode: Rejected['rcode'], reason: string): Rejected {
  return { kind: 'rejected', id, flags, rcode, reason };
}

// Reads the OPT record, if any, into the query, checking every record it
// skips (RFC 6891 §6.1.1): at most one OPT, owned by the root, in the
// additional section. Options are not read: unknown ones are ignored.
// Returns a reason when the sections cannot be read or break those rules.
function readEdns(packet: Buffer, start: number, query: Query): string | undefined {
  const beforeAdditional = packet.readUInt16BE(6) + packet.readUInt16BE(8);
  const records = beforeAdditional + packet.readUInt16BE(10);
  let found = false;
  let offset = start;
  for (let i = 0; i < records; i++) {
    const owner = offset;
    offset = skipName(packet, offset);
    if (offset < 0 || offset + 10 > packet.length) return 'record runs past the end';
    if (packet.readUInt16BE(offset) === TYPE.OPT) {
      if (i < beforeAdditional) return 'OPT outside the additional section';
      if (found) return 'more than one OPT record';
      if (!isRootName(packet, owner)) return 'OPT not owned by the root';
      found = true;
      const optEnd = offset + 10 + packet.readUInt16BE(offset + 8);
      query.setEdns(packet[offset + 5] ?? 0, packet.readUInt16BE(offset + 2), findOption(packet, offset + 10, optEnd, ECS_OPTION), optEnd);
    }
    offset += 10 + packet.readUInt16BE(offset + 8);
    if (offset > packet.length) return 'record data runs past the end';
  }
  if (!found) query.setEdns(undefined);
  return undefined;
}

// Where the first option `code` in OPT data [start, end) starts, -1 when none.
function findOption(packet: Buffer, start: number, end: number, code: number): number {
  for (let at = start; at + OPTION_HEADER_LENGTH <= end && at + OPTION_HEADER_LENGTH <= packet.length; at += OPTION_HEADER_LENGTH + packet.readUInt16BE(at + 2)) {
    if (packet.readUInt16BE(at) === code) return at;
  }
  return -1;
}

// The query's Client Subnet option, or why it is malformed (FORMERR, RFC
// 7871 §6): an unknown family, a source prefix longer than the address, more
// or fewer address octets than the prefix needs, or address bits set beyond
// it. A query's scope prefix (which should be 0) is not checked.
export function readClientSubnet(packet: Buffer, edns: Edns): ClientSubnet | string {
  const at = edns.ecsAt;
  const dataLength = packet.readUInt16BE(at + 2);
  const length = OPTION_HEADER_LENGTH + dataLength;
  if (at + length > edns.optEnd || at + length > packet.length) return 'client subnet option runs past the OPT record';
  if (dataLength < ECS_FIXED_LENGTH) return 'client subnet option shorter than its fixed fields';
  const family = ECS_FAMILIES[packet.readUInt16BE(at + 4)];
  if (!family) return `client subnet family ${packet.readUInt16BE(at + 4)} unknown`;
  const sourcePrefix = packet[at + 6]!;
  if (sourcePrefix > family.bits) return `client subnet source prefix /${sourcePrefix} longer than the address`;
  const octets = dataLength - ECS_FIXED_LENGTH;
  if (octets !== Math.ceil(sourcePrefix / 8)) return `client subnet address of ${octets} octets for a /${sourcePrefix} prefix`;
  const spareBits = octets * 8 - sourcePrefix;
  if (octets > 0 && (packet[at + length - 1]! & ((1 << spareBits) - 1)) !== 0) return 'client subnet address has bits set beyond its prefix';
  const address = Buffer.alloc(family.bits / 8);
  packet.copy(address, 0, at + OPTION_HEADER_LENGTH + ECS_FIXED_LENGTH, at + length);
  return { family: family.family, sourcePrefix, address: addressText(address), at, length };
}

// 4 or 16 octets as an IPv4 or IPv6 address.
export function addressText(bytes: Buffer): string {
  if (bytes.length === 4) return bytes.join('.');
  const groups: string[] = [];
  for (let at = 0; at < bytes.length; at += 2) groups.push(bytes.readUInt16BE(at).toString(16));
  return groups.join(':');
}

// The root label, or a pointer to one.
function isRootName(packet: Buffer, offset: number): boolean {
  const first = packet[offset] ?? 1;
  if (first < 0xc0) return first === 0;
  return packet[((first & 0x3f) << 8) | (packet[offset + 1] ?? 0)] === 0;
}

// The offset just past the name at `offset` (compression allowed outside the
// question), -1 when it does not fit or uses a reserved label type.
export function skipName(packet: Buffer, offset: number): number {
  for (;;) {
    const length = packet[offset];
    if (length === undefined) return -1;
    if (length === 0) return offset + 1;
    if (length >= 0xc0) return offset + 2 <= packet.length ? offset + 2 : -1;
    if (length > MAX_LABEL_LENGTH) return -1;
    offset += length + 1;
  }
}

// "web.prod.svc" → "\x03web\x04prod\x03svc": the key `Query.name` is matched
// against, followed by `suffix` (a zone's name key) when given. Expects
// lower-case labels of 1–63 octets. Built in a buffer so the string is flat:
// it is hashed at once as a map key.
let keyScratch = Buffer.allocUnsafe(256);
export function nameKey(dotted: string, suffix = ''): string {
  if (dotted === '') return suffix;
  const length = dotted.length + 1 + suffix.length;
  if (length > keyScratch.length) keyScratch = Buffer.allocUnsafe(length * 2);
  let lengthAt = 0;
  for (let i = 0; i < dotted.length; i++) {
    const c = dotted.charCodeAt(i);
    if (c !== 0x2e) keyScratch[i + 1] = c;
    else {
      keyScratch[lengthAt] = i - lengthAt;
      lengthAt = i + 1;
    }
  }
  keyScratch[lengthAt] = dotted.length - lengthAt;
  for (let i = 0; i < suffix.length; i++) keyScratch[dotted.length + 1 + i] = suffix.charCodeAt(i);
  return keyScratch.toString('latin1', 0, length);
}

// Big-endian numbers octet by octet, for the query path and compiling:
// Buffer's own methods check their arguments, which costs more than the
// access. Offsets are the caller's to keep in bounds.
export const readU16 = (b: Uint8Array, at: number): number => (b[at]! << 8) | b[at + 1]!;
export const readU32 = (b: Uint8Array, at: number): number => b[at]! * 0x1000000 + ((b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!);

export function writeU16(b: Uint8Array, at: number, n: number): void {
  b[at] = n >>> 8;
  b[at + 1] = n;
}

export function writeU32(b: Uint8Array, at: number, n: number): void {
  b[at] = n >>> 24;
  b[at + 1] = n >>> 16;
  b[at + 2] = n >>> 8;
  b[at + 3] = n;
}

// Whether a label of name key `key` starts at `offset`: a suffix match on the
// octets alone could begin inside a label.
export function isLabelStart(key: string, offset: number): boolean {
  let at = 0;
  while (at < offset) at += key.charCodeAt(at) + 1;
  return at === offset;
}

// An OPT record at `at`: root owner, our payload size as the class, the upper
// 8 bits of the extended RCODE, version 0, and no options but the query's
// client subnet when given, echoed with scope prefix = source prefix
// (RFC 7871 §7.2.1: the answer holds for the whole source prefix).
export function writeOpt(out: Buffer, at: number, extendedRcode: number, subnet?: { packet: Buffer; option: ClientSubnet }): void {
  out[at] = 0;
  out.writeUInt16BE(TYPE.OPT, at + 1);
  out.writeUInt16BE(EDNS_PAYLOAD_SIZE, at + 3);
  out.writeUInt32BE(extendedRcode * 2 ** 24, at + 5);
  out.writeUInt16BE(subnet ? subnet.option.length : 0, at + 9);
  if (!subnet) return;
  const { packet, option } = subnet;
  packet.copy(out, at + OPT_LENGTH, option.at, option.at + option.length);
  out[at + OPT_LENGTH + OPTION_HEADER_LENGTH + 3] = option.sourcePrefix;
}
