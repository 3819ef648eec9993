// The query path: a query packet in, a response packet out. The response is
// the header, the question copied from the query (its letter case kept) and a
// precompiled tail; only id, flags, counts and an SOA serial are written.

import type { QueryCounts } from '../../shared/metrics.js';
import { lookup, type Answer, type AnswerTable } from './answers.js';
import { FLAG, HEADER_LENGTH, OPCODE_MASK, RCODE, TYPE, parseQuery, type Query } from './wire.js';

export const EDNS_PAYLOAD_SIZE = 1232; // what we accept, advertised in our OPT (DNS flag day 2020)
const PLAIN_UDP_LIMIT = 512;
const TCP_LIMIT = 65535;
const OPT_LENGTH = 11;
const BADVERS_HIGH_BITS = 1; // extended RCODE 16 = BADVERS, upper 8 bits of 12
const BADVERS_RCODE = 16;
const RCODE_MASK = 0x000f;

export type Transport = 'udp' | 'tcp';

// undefined: stay silent (no readable header, or not a query).
// `counts` gets every answered query by type and rcode.
export function respond(packet: Buffer, table: AnswerTable, transport: Transport, counts?: QueryCounts): Buffer | undefined {
  const query = parseQuery(packet);
  if (query.kind === 'ignored') return undefined;
  if (query.kind === 'rejected') {
    counts?.addUnparsed(query.rcode);
    return headerOnly(query.id, query.flags, query.rcode);
  }
  if (query.edns && query.edns.version > 0) {
    counts?.add(query.qtype, BADVERS_RCODE);
    return message(packet, query, BADVERS, 0, transport, BADVERS_HIGH_BITS);
  }
  const answer = lookup(table, query.name, query.qtype, query.qclass);
  counts?.add(query.qtype, answer.flags & RCODE_MASK);
  return message(packet, query, answer, table.serial, transport, 0);
}

const BADVERS: Answer = { qtype: 0, flags: FLAG.QR | RCODE.NOERROR, ancount: 0, nscount: 0, arcount: 0, bytes: Buffer.alloc(0), start: 0, end: 0, serialAt: -1 };

function message(packet: Buffer, query: Query, answer: Answer, serial: number, transport: Transport, extendedRcode: number): Buffer {
  const optLength = query.edns ? OPT_LENGTH : 0;
  const limit = transport === 'tcp' ? TCP_LIMIT : query.edns ? Math.max(PLAIN_UDP_LIMIT, query.edns.payloadSize) : PLAIN_UDP_LIMIT;
  const tailLength = answer.end - answer.start;
  const fits = query.questionEnd + tailLength + optLength <= limit;
  const records = fits ? tailLength : 0;
  const out = Buffer.allocUnsafe(query.questionEnd + records + optLength);
  out.writeUInt16BE(query.id, 0);
  out.writeUInt16BE(answer.flags | (query.flags & FLAG.RD) | (fits ? 0 : FLAG.TC), 2);
  out.writeUInt16BE(1, 4);
  out.writeUInt16BE(fits ? answer.ancount : 0, 6);
  out.writeUInt16BE(fits ? answer.nscount : 0, 8);
  out.writeUInt16BE((fits ? answer.arcount : 0) + (optLength ? 1 : 0), 10);
  packet.copy(out, HEADER_LENGTH, HEADER_LENGTH, query.questionEnd);
  let at = query.questionEnd;
  if (fits) {
    answer.bytes.copy(out, at, answer.start, answer.end);
    if (answer.serialAt >= 0) out.writeUInt32BE(serial, at + answer.serialAt);
    at += records;
  }
  if (optLength) writeOpt(out, at, extendedRcode);
  return out;
}

// Root owner, our payload size as the class, extended RCODE, version 0, no options.
function writeOpt(out: Buffer, at: number, extendedRcode: number): void {
  out[at] = 0;
  out.writeUInt16BE(TYPE.OPT, at + 1);
  out.writeUInt16BE(EDNS_PAYLOAD_SIZE, at + 3);
  out.writeUInt32BE(extendedRcode * 2 ** 24, at + 5);
  out.writeUInt16BE(0, at + 9);
}

// FORMERR and NOTIMP: the question may not be readable, so none is echoed.
function headerOnly(id: number, queryFlags: number, rcode: number): Buffer {
  const out = Buffer.alloc(HEADER_LENGTH);
  out.writeUInt16BE(id, 0);
  out.writeUInt16BE(FLAG.QR | (queryFlags & (OPCODE_MASK | FLAG.RD)) | rcode, 2);
  return out;
}
