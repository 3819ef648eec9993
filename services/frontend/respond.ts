// The query path: a query packet in, a response packet out. The response is
// the header, the question copied from the query (its letter case kept) and
// precompiled records, copied whole RRset by whole RRset while they fit;
// only id, flags, counts, an SOA serial and additional owners are written.

import type net from 'node:net';
import type { QueryCounts } from '../../shared/metrics.js';
import { lookup, noRecords, type Answer, type AnswerTable, type ViewAnswers } from './answers.js';
import { ANCOUNT, ENDS, FLAGS, NO_SERIAL, NSCOUNT, PREFERRED, QTYPE, RRSET_HEADER, SERIAL_AT, TAIL_END, TURN, srvTables } from './rrset.js';
import { POINTED_RECORD_LENGTH, SRV_TARGET_OFFSET } from './tailWriter.js';
import { EDNS_PAYLOAD_SIZE, FLAG, HEADER_LENGTH, MAX_POINTER_TARGET, OPCODE_MASK, OPT_LENGTH, RCODE, TYPE, parseQuery, readClientSubnet, readU16, readU32, writeOpt, writeU16, writeU32, type ClientSubnet, type Edns, Query } from './wire.js';

const PLAIN_UDP_LIMIT = 512;
const TCP_LIMIT = 65535;
const BADVERS_HIGH_BITS = 1; // extended RCODE 16 = BADVERS, upper 8 bits of 12
const BADVERS_RCODE = 16;
const RCODE_MASK = 0x000f;
const POINTER = 0xc000;
const SHORT_COPY = 64; // octets; measured
const BADVERS = noRecords(FLAG.QR | RCODE.NOERROR);

export type Transport = 'udp' | 'tcp';

// Which of the table's views answers a client (server.ts builds it from
// FrontendOptions.views and trustEcs).
export interface ViewRouting {
  anyView: net.BlockList; // every view's networks: one check sends other clients to the union
  views: { view: number; networks: net.BlockList }[]; // in the configured order, the first match wins; view indexes AnswerTable.views
  trustEcs: net.BlockList | undefined; // whose Client Subnet option picks the view instead of their own address
}

// The answer records a response takes, in order: runs of whole records,
// bytes [runs[3r], runs[3r+1]) whose first record is runs[3r+2]; at most two
// groups rotated, two runs each. Reused by every response.
const runs = new Int32Array(12);
let runCount = 0;
// The additional RRsets a response takes: (start, end, owner pointer,
// record length) in `bytes`, and how many; reused by every response.
let picked = new Int32Array(4 * 64);
let pickedCount = 0;
let pickedRecords = 0;
// Which targets of an SRV answer this response already has addresses for:
// seen[t] === stamp. A new stamp per response clears it without a loop.
let seen = new Uint32Array(64);
let stamp = 0;

// Every query of this path is parsed into this one: nothing of it outlives respond().
const scratch = new Query();

// undefined: stay silent (no readable header, or not a query).
// `counts` gets every answered query by type and rcode. With `routing`, the
// `client` address (or the client subnet it is trusted to send) picks a view.
export function respond(packet: Buffer, table: AnswerTable, transport: Transport, counts?: QueryCounts, client?: string, routing?: ViewRouting): Buffer | undefined {
  const query = parseQuery(packet, scratch);
  if (query.kind === 'ignored') return undefined;
  if (query.kind === 'rejected') {
    counts?.addUnparsed(query.rcode);
    return headerOnly(query.id, query.flags, query.rcode);
  }
  if (query.edns && query.edns.version > 0) {
    counts?.add(query.qtype, BADVERS_RCODE);
    return message(packet, query, BADVERS, table, transport, BADVERS_HIGH_BITS, undefined);
  }
  let view: ViewAnswers | undefined;
  let subnet: ClientSubnet | undefined;
  if (routing && client !== undefined) {
    let address = client;
    if (query.edns && query.edns.ecsAt >= 0 && routing.trustEcs && routing.trustEcs.check(client, familyOf(client))) {
      const read = readClientSubnet(packet, query.edns);
      if (typeof read === 'string') {
        counts?.add(query.qtype, RCODE.FORMERR);
        return headerOnly(query.id, query.flags, RCODE.FORMERR);
      }
      subnet = read;
      if (read.sourcePrefix > 0) address = read.address; // a /0 asks for an answer that does not depend on the client
    }
    view = viewOf(routing, table, address);
  }
  const answer = lookup(table, packet, query, view);
  counts?.add(query.qtype, readU16(answer.block, answer.at + FLAGS) & RCODE_MASK);
  return message(packet, query, answer, table, transport, 0, subnet);
}

const familyOf = (address: string): 'ipv4' | 'ipv6' => (address.includes(':') ? 'ipv6' : 'ipv4');

// The view of the first networks `address` lies in; none: the union.
function viewOf(routing: ViewRouting, table: AnswerTable, address: string): ViewAnswers | undefined {
  const family = familyOf(address);
  if (!routing.anyView.check(address, family)) return undefined;
  for (const { view, networks } of routing.views) if (networks.check(address, family)) return table.views[view];
  return undefined;
}

// The most a response may hold: 512 octets without EDNS, else what the client
// advertises within 512 and our own payload size (RFC 6891 §6.2.5).
export function sizeLimit(transport: Transport, edns: Edns | undefined): number {
  if (transport === 'tcp') return TCP_LIMIT;
  return edns ? Math.max(PLAIN_UDP_LIMIT, Math.min(edns.payloadSize, EDNS_PAYLOAD_SIZE)) : PLAIN_UDP_LIMIT;
}

// Whole RRsets while they fit, answer and authority first; TC when an answer
// or authority RRset had to stay out (dropped additional records set no TC,
// RFC 2181 §9). OPT is always kept (RFC 6891 §7).
// `subnet`: the client subnet option to echo in OPT.
function message(packet: Buffer, query: Query, answer: Answer, table: AnswerTable, transport: Transport, extendedRcode: number, subnet: ClientSubnet | undefined): Buffer {
  const { block, at } = answer;
  const optLength = query.edns ? OPT_LENGTH + (subnet ? subnet.length : 0) : 0;
  const limit = sizeLimit(transport, query.edns) - optLength;
  const answerAt = query.questionEnd;
  const count = pickRecords(block, at, table);
  let answerLength = 0;
  for (let r = 0; r < 3 * runCount; r += 3) answerLength += runs[r + 1]! - runs[r]!;
  const fits = answerAt + answerLength <= limit;
  let length = fits ? answerAt + answerLength : answerAt;
  pickedCount = 0;
  pickedRecords = 0;
  if (fits && readU16(block, at + QTYPE) === TYPE.SRV) length = pickTargetAddresses(block, at, answerAt, length, limit);

  const out = Buffer.allocUnsafe(length + optLength);
  writeU16(out, 0, query.id);
  writeU16(out, 2, readU16(block, at + FLAGS) | (query.flags & FLAG.RD) | (fits ? 0 : FLAG.TC));
  writeU16(out, 4, 1);
  writeU16(out, 6, fits ? count : 0);
  writeU16(out, 8, fits ? readU16(block, at + NSCOUNT) : 0);
  writeU16(out, 10, pickedRecords + (optLength ? 1 : 0));
  let to = copyBytes(packet, HEADER_LENGTH, answerAt, out, HEADER_LENGTH);
  if (fits) {
    for (let r = 0; r < 3 * runCount; r += 3) to = copyBytes(block, runs[r]!, runs[r + 1]!, out, to);
    const serialAt = readU16(block, at + SERIAL_AT);
    if (serialAt !== NO_SERIAL) writeU32(out, answerAt + serialAt, table.serial);
  }
  for (let p = 0; p < 4 * pickedCount; p += 4) {
    const rrsetStart = to;
    const owner = picked[p + 2]!;
    to = copyBytes(block, picked[p]!, picked[p + 1]!, out, to);
    for (let r = rrsetStart; r < to; r += picked[p + 3]!) {
      out[r] = owner >> 8;
      out[r + 1] = owner & 0xff;
    }
  }
  if (optLength) writeOpt(out, to, extendedRcode, subnet && { packet, option: subnet });
  return out;
}

// The answer records a response takes from the RRset at block[at]: all, or
// a window of --max-endpoints; with round robin each group starts one
// record further per response. Returns how many; they are the runs.
function pickRecords(block: Buffer, at: number, table: AnswerTable): number {
  runCount = 0;
  const tail = at + RRSET_HEADER;
  const n = readU32(block, at + ANCOUNT);
  const rotation = tail + readU32(block, at + TAIL_END);
  if (n <= 1) {
    addRun(tail, rotation, 0);
    return n;
  }
  const preferred = readU32(block, rotation + PREFERRED);
  const turn = readU32(block, rotation + TURN);
  if (table.rotate) writeU32(block, rotation + TURN, turn + 1 >= (preferred > 0 ? preferred * (n - preferred) : n) ? 0 : turn + 1);
  const count = Math.min(n, table.maxEndpoints);
  const ends = rotation + ENDS;
  const taken = preferred > 0 ? takeGroup(block, tail, ends, 0, preferred, turn, count) : 0;
  takeGroup(block, tail, ends, preferred, n, turn, count - taken);
  return count;
}

// Up to `count` records of [lo, hi), from lo + turn on, wrapping round: one
// or two runs. Record i of the tail at `tail` ends at the u32 at ends + 4i.
function takeGroup(block: Buffer, tail: number, ends: number, lo: number, hi: number, turn: number, count: number): number {
  const size = hi - lo;
  const taken = count < size ? count : size;
  if (taken <= 0) return 0;
  const first = lo + (turn % size);
  const stop = first + taken;
  addRun(first === 0 ? tail : endOf(block, tail, ends, first - 1), endOf(block, tail, ends, (stop < hi ? stop : hi) - 1), first);
  if (stop > hi) addRun(lo === 0 ? tail : endOf(block, tail, ends, lo - 1), endOf(block, tail, ends, stop - size - 1), lo);
  return taken;
}

const endOf = (block: Buffer, tail: number, ends: number, i: number): number => tail + readU32(block, ends + 4 * i);

function addRun(start: number, end: number, firstRecord: number): void {
  runs[3 * runCount] = start;
  runs[3 * runCount + 1] = end;
  runs[3 * runCount + 2] = firstRecord;
  runCount++;
}

// src[start, end) to dst at `at`; returns where it ends. Buffer.copy makes a
// view of its source per call: short runs are cheaper copied here.
function copyBytes(src: Buffer, start: number, end: number, dst: Buffer, at: number): number {
  if (end - start > SHORT_COPY) return at + src.copy(dst, at, start, end);
  for (let i = start; i < end; i++) dst[at++] = src[i]!;
  return at;
}

// Picks the A and AAAA RRsets of the targets of the SRV records in the runs
// (the SRV RRset at block[at] and its tables, rrset.ts), in their order,
// each target once, as long as they fit the message, now `length` long;
// returns its new length. The runs follow the question, which ends at
// `answerAt`. A target past what a pointer reaches gets none.
function pickTargetAddresses(block: Buffer, at: number, answerAt: number, length: number, limit: number): number {
  const tail = at + RRSET_HEADER;
  const n = readU32(block, at + ANCOUNT);
  const ends = n > 1 ? tail + readU32(block, at + TAIL_END) + ENDS : -1;
  const tables = srvTables(block, at);
  const targetCount = readU32(block, tables);
  const targetOf = tables + 4;
  const rrsets = targetOf + 4 * n;
  if (seen.length < targetCount) seen = new Uint32Array(targetCount);
  if (picked.length < 8 * targetCount) picked = new Int32Array(8 * targetCount);
  if (++stamp === 0xffffffff) {
    seen.fill(0);
    stamp = 1;
  }
  let runAt = answerAt;
  for (let r = 0; r < 3 * runCount; r += 3) {
    const runStart = runs[r]!;
    const runEnd = runs[r + 1]!;
    let i = runs[r + 2]!;
    for (let recordAt = runStart; recordAt < runEnd; i++) {
      const target = runAt + recordAt - runStart + SRV_TARGET_OFFSET;
      recordAt = ends >= 0 ? endOf(block, tail, ends, i) : runEnd;
      const t = readU32(block, targetOf + 4 * i);
      if (seen[t] === stamp) continue;
      seen[t] = stamp;
      if (target > MAX_POINTER_TARGET) continue;
      for (let family = 0; family < 2; family++) {
        const start = tail + readU32(block, rrsets + 16 * t + 8 * family);
        const end = tail + readU32(block, rrsets + 16 * t + 8 * family + 4);
        if (start === end || length + end - start > limit) continue;
        const recordLength = family === 0 ? POINTED_RECORD_LENGTH[4] : POINTED_RECORD_LENGTH[6];
        picked[4 * pickedCount] = start;
        picked[4 * pickedCount + 1] = end;
        picked[4 * pickedCount + 2] = POINTER | target;
        picked[4 * pickedCount + 3] = recordLength;
        pickedCount++;
        pickedRecords += (end - start) / recordLength;
        length += end - start;
      }
    }
    runAt += runEnd - runStart;
  }
  return length;
}

// FORMERR and NOTIMP: the question may not be readable, so none is echoed.
function headerOnly(id: number, queryFlags: number, rcode: number): Buffer {
  const out = Buffer.alloc(HEADER_LENGTH);
  writeU16(out, 0, id);
  writeU16(out, 2, FLAG.QR | (queryFlags & (OPCODE_MASK | FLAG.RD)) | rcode);
  return out;
}
