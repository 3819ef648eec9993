// Zone transfers (RFC 5936): the messages that carry a whole zone, built from
// the answer table when a transfer is asked for. Pure: the server decides
// whom to allow and adds the TCP length prefixes. IXFR is answered with the
// whole zone too (RFC 1995 §4 allows it when no history is kept), or with the
// SOA alone when the client already has this serial or a newer one.

import { zoneAt, zoneNames, type Answer, type AnswerTable } from './answers.js';
import { writeVersionTxt, writeZoneNs, writeZoneSoa } from './nameWriter.js';
import { ANCOUNT, NAME_RRSETS, NEXT, QTYPE, RRSET_HEADER, firstRRset, recordEnd } from './rrset.js';
import { TailWriter } from './tailWriter.js';
import { CLASS_IN, FLAG, HEADER_LENGTH, OPT_LENGTH, RCODE, TYPE, addressText, parseQuery, skipName, writeOpt, type ParsedQuery, type Query } from './wire.js';

export const MAX_TRANSFER_MESSAGE = 16384; // octets; RFC 5936 §2.2 leaves it to us, 16 KiB is what servers use
// An upper bound of one record: a 255-octet owner, fixed fields, and the
// largest data we write (an SOA with two 255-octet names and five numbers).
const MAX_RECORD_LENGTH = 255 + 10 + 255 + 255 + 20;
const SERIAL_HALF = 2 ** 31; // RFC 1982 serial arithmetic
const RECORD_DATA = 2 + 10; // a pointer as owner, TYPE, CLASS, TTL, RDLENGTH

// An AXFR or IXFR query: the server allows or refuses it (over UDP: refuses).
export function isTransferRequest(query: ParsedQuery): query is Query {
  return query.kind === 'query' && (query.qtype === TYPE.AXFR || query.qtype === TYPE.IXFR);
}

// The transfer of the zone whose apex `packet` asks for, message by message;
// undefined when the packet is not such a transfer query (respond() answers
// it then, REFUSED or BADVERS). SERVFAIL while the table has no complete view.
export function transferMessages(table: AnswerTable, packet: Buffer): Buffer[] | undefined {
  const query = parseQuery(packet);
  if (!isTransferRequest(query) || query.qclass !== CLASS_IN || (query.edns && query.edns.version > 0)) return undefined;
  const zone = zoneAt(table, query.name(packet));
  if (!zone) return undefined;
  const messages = new TransferWriter(packet, query, zone.key);
  if (table.version === undefined || !table.synced) return [messages.failure(RCODE.SERVFAIL)];
  const soa = (w: TailWriter): void => writeZoneSoa(w, table.ttl, table.serial);
  if (query.qtype === TYPE.IXFR && hasSerial(packet, query, table.serial)) {
    messages.add(soa);
    return messages.finish();
  }
  messages.add(soa);
  messages.add((w) => writeZoneNs(w, table.ttl));
  messages.add(writeVersionTxt);
  for (const [name, compiled] of zoneNames(table, zone)) addRecords(messages, name, compiled, zone.key.length, table.ttl);
  messages.add(soa);
  return messages.finish();
}

// The records of the name whose RRsets are compiled at `compiled` (rrset.ts):
// each record's owner is a pointer to the question, its data follows
// RECORD_DATA octets in; SRV targets end in the zone (`zoneLength` octets) and the root.
function addRecords(messages: TransferWriter, name: string, compiled: Answer, zoneLength: number, ttl: number): void {
  const { block } = compiled;
  let at = firstRRset(block, compiled.at);
  for (let left = block[compiled.at + NAME_RRSETS]!; left > 0; left--, at += block.readUInt32BE(at + NEXT)) {
    const qtype = block.readUInt16BE(at + QTYPE);
    const tail = at + RRSET_HEADER;
    for (let i = 0; i < block.readUInt32BE(at + ANCOUNT); i++) {
      const data = (i === 0 ? tail : tail + recordEnd(block, at, i - 1)) + RECORD_DATA;
      const end = tail + recordEnd(block, at, i);
      if (qtype === TYPE.SRV) {
        const target = dottedName(block, data + 6, end - zoneLength - 1);
        messages.add((w) => w.srv(name, ttl, block.readUInt16BE(data), block.readUInt16BE(data + 2), block.readUInt16BE(data + 4), target));
      } else messages.add((w) => w.address(name, ttl, qtype === TYPE.A ? 4 : 6, addressText(block.subarray(data, end))));
    }
  }
}

// The labels at block[start, end) as a dotted name.
function dottedName(block: Buffer, start: number, end: number): string {
  const labels: string[] = [];
  for (let at = start; at < end; at += block[at]! + 1) labels.push(block.toString('latin1', at + 1, at + 1 + block[at]!));
  return labels.join('.');
}

// Messages of at most MAX_TRANSFER_MESSAGE octets, each with the query's id
// and question (allowed after the first, RFC 5936 §2.2.1, and what lets names
// point at the apex), and OPT when the query had one.
class TransferWriter {
  private readonly writer = new TailWriter(true);
  private readonly messages: Buffer[] = [];
  private records = 0;
  private readonly budget: number;

  constructor(
    private readonly packet: Buffer,
    private readonly query: Query,
    private readonly zone: string,
  ) {
    this.budget = MAX_TRANSFER_MESSAGE - query.questionEnd - (query.edns ? OPT_LENGTH : 0);
    this.writer.begin('', zone);
  }

  // A record written by `write`; one that writes nothing is no record.
  add(write: (w: TailWriter) => unknown): void {
    if (this.writer.size - this.writer.tailOffset + MAX_RECORD_LENGTH > this.budget) this.flush();
    const before = this.writer.size;
    write(this.writer);
    if (this.writer.size > before) this.records++;
  }

  finish(): Buffer[] {
    this.flush();
    return this.messages;
  }

  // The one message of a transfer that cannot be made: the question and an error.
  failure(rcode: number): Buffer {
    return this.message(Buffer.alloc(0), 0, FLAG.QR | rcode);
  }

  private flush(): void {
    if (this.records === 0) return;
    this.messages.push(this.message(this.writer.takeBytes(), this.records, FLAG.QR | FLAG.AA | RCODE.NOERROR));
    this.records = 0;
    this.writer.begin('', this.zone);
  }

  private message(records: Buffer, ancount: number, flags: number): Buffer {
    const { packet, query } = this;
    const optLength = query.edns ? OPT_LENGTH : 0;
    const out = Buffer.alloc(query.questionEnd + records.length + optLength);
    out.writeUInt16BE(query.id, 0);
    out.writeUInt16BE(flags | (query.flags & FLAG.RD), 2);
    out.writeUInt16BE(1, 4);
    out.writeUInt16BE(ancount, 6);
    out.writeUInt16BE(optLength ? 1 : 0, 10);
    packet.copy(out, HEADER_LENGTH, HEADER_LENGTH, query.questionEnd);
    records.copy(out, query.questionEnd);
    if (optLength) writeOpt(out, query.questionEnd + records.length, 0);
    return out;
  }
}

// Whether an IXFR query's SOA (authority section) has `serial` or a newer one.
function hasSerial(packet: Buffer, query: Query, serial: number): boolean {
  let offset = query.questionEnd;
  for (let i = 0; i < packet.readUInt16BE(6); i++) offset = skipRecord(packet, offset);
  if (packet.readUInt16BE(8) === 0 || offset < 0) return false;
  offset = skipName(packet, offset);
  if (offset < 0 || offset + 10 > packet.length || packet.readUInt16BE(offset) !== TYPE.SOA) return false;
  const names = skipName(packet, skipName(packet, offset + 10));
  if (names < 0 || names + 4 > packet.length) return false;
  return (packet.readUInt32BE(names) - serial + 2 ** 32) % 2 ** 32 < SERIAL_HALF;
}

// The offset past the record at `offset`, -1 when it does not fit.
function skipRecord(packet: Buffer, offset: number): number {
  if (offset < 0) return -1;
  const data = skipName(packet, offset);
  if (data < 0 || data + 10 > packet.length) return -1;
  return data + 10 + packet.readUInt16BE(data + 8);
}
