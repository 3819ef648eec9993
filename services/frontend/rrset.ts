// A compiled RRset in octets: what a response copies after its question, and
// what it needs to pick a window of records and their SRV targets'
// addresses. nameWriter.ts writes them, respond.ts and transfer.ts read them.
// Octets instead of objects: at 100k names every object per name costs megabytes.
//
//   header     RRSET_HEADER octets, the fields below (big-endian)
//   tail       the records after the question, TAIL_END octets
//   rotation   with more than one record: u32 PREFERRED, u32 TURN, then
//              u32 × ANCOUNT where each record ends in the tail
//   SRV        u32 target count T, u32 × ANCOUNT the target of each record,
//              u32 × 4T target t's A RRset [4t, 4t+1) and AAAA RRset [4t+2, 4t+3),
//              then those RRsets: A and AAAA records whose owner the responder
//              points at their target
//
// Offsets in the tables are from the start of the tail.

import { TYPE, readU16, readU32 } from './wire.js';

// An RRset to answer with: the one at block[at].
export interface Answer {
  block: Buffer;
  at: number;
}

export const QTYPE = 0; // u16, 0: answers any type
export const FLAGS = 2; // u16: QR, AA and RCODE; RD comes from the query
export const NSCOUNT = 4; // u16
export const SERIAL_AT = 6; // u16: where the tail holds an SOA serial that follows the view version; NO_SERIAL when none
export const ANCOUNT = 8; // u32
export const TAIL_END = 12; // u32
export const NEXT = 16; // u32: the length of the whole RRset, so the next one of its name follows
export const RRSET_HEADER = 20;
export const NO_SERIAL = 0xffff;

// The rotation, from its start (tail + TAIL_END).
// The first PREFERRED records are the asking view's own cluster's
// (--prefer-own-cluster): they come first, each group rotated on its own. 0: one group.
export const PREFERRED = 0;
export const TURN = 4; // counts responses, modulo the product of the group sizes
export const ENDS = 8;

// A name: its zone's index, how many RRsets, its name key relative to the
// zone (wire.ts nameKey), then each RRset, NEXT octets after the one before.
// A service's name and its only port's name answer SRV alike: the port's
// name (header and SRV RRset) sits before the service name's SRV RRset and
// is it: the RRset before it has a NEXT past the port's header (rrsetLength
// tells the two apart).
export const NAME_ZONE = 0; // u8
export const NAME_RRSETS = 1; // u8
export const NAME_KEY_LENGTH = 2; // u8
export const NAME_KEY = 3;

// Where the first RRset of the name at block[at] starts.
export function firstRRset(block: Buffer, at: number): number {
  return at + NAME_KEY + block[at + NAME_KEY_LENGTH]!;
}

// Where the SRV tables of the RRset at block[at] start.
export function srvTables(block: Buffer, at: number): number {
  const ancount = readU32(block, at + ANCOUNT);
  return at + RRSET_HEADER + readU32(block, at + TAIL_END) + (ancount > 1 ? ENDS + 4 * ancount : 0);
}

// Where record i of the RRset at block[at] ends, from the tail.
export function recordEnd(block: Buffer, at: number, i: number): number {
  const tailEnd = readU32(block, at + TAIL_END);
  return readU32(block, at + ANCOUNT) > 1 ? readU32(block, at + RRSET_HEADER + tailEnd + ENDS + 4 * i) : tailEnd;
}

// The octets of the RRset at block[at] itself, its SRV tables and their
// addresses included; NEXT is longer when the RRset after it is shared.
export function rrsetLength(block: Buffer, at: number): number {
  const tables = srvTables(block, at);
  if (readU16(block, at + QTYPE) !== TYPE.SRV) return tables - at;
  // The last target's AAAA records end it (nameWriter.ts writes them in order).
  const targets = readU32(block, tables);
  const ancount = readU32(block, at + ANCOUNT);
  return targets === 0 ? tables + 4 + 4 * ancount - at : at + RRSET_HEADER + readU32(block, tables + 4 + 4 * ancount + 16 * targets - 4) - at;
}
