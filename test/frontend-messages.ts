// DNS messages for the frontend's tests: queries built with dns-packet (and
// then bent by hand), responses decoded by dns-packet, and a raw walk over a
// response's records for what dns-packet hides (compression, exact octets).
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';

export const Z = 'clusterset.local';

// dns-packet's decode, with the fields it always sets.
export type Decoded = Required<Pick<dnsPacket.DecodedPacket, 'id' | 'questions' | 'answers' | 'authorities' | 'additionals'>> & {
  rcode: string;
  flag_tc: boolean;
  flag_aa: boolean;
};
export const decode = (message: Buffer): Decoded => dnsPacket.decode(message) as unknown as Decoded;

export interface QueryOptions {
  id?: number;
  qclass?: dnsPacket.RecordClass;
  rd?: boolean;
  edns?: number; // advertised UDP payload size; no OPT when absent
  ednsVersion?: number;
  ednsOptions?: { code: number; data: Buffer }[];
}

export function encodeQuery(qname: string, qtype: string, o: QueryOptions = {}): Buffer {
  const opt = { type: 'OPT', name: '.', udpPayloadSize: o.edns, ednsVersion: o.ednsVersion ?? 0, options: o.ednsOptions ?? [] };
  return dnsPacket.encode({
    type: 'query',
    id: o.id ?? 0x1234,
    flags: o.rd === false ? 0 : dnsPacket.RECURSION_DESIRED,
    questions: [{ name: qname, type: qtype as dnsPacket.RecordType, class: o.qclass ?? 'IN' }],
    additionals: o.edns ? [opt as unknown as dnsPacket.Answer] : [],
  });
}

// "name ttl TYPE data", the way a zone file would say it.
export function show(record: dnsPacket.Answer): string {
  const r = record as { name: string; ttl?: number; type: string; data?: unknown };
  const d = r.data as Record<string, unknown> | string | Buffer[];
  const data =
    r.type === 'SRV' && typeof d === 'object' && !Array.isArray(d)
      ? `${d.priority} ${d.weight} ${d.port} ${d.target}`
      : r.type === 'SOA' && typeof d === 'object' && !Array.isArray(d)
        ? `${d.mname} ${d.rname} ${d.serial} ${d.refresh} ${d.retry} ${d.expire} ${d.minimum}`
        : r.type === 'TXT' && Array.isArray(d)
          ? d.map((b) => JSON.stringify(b.toString())).join(' ')
          : String(d);
  return `${r.name} ${r.ttl} ${r.type} ${data}`;
}

export function flagsOf(p: Decoded): string {
  const f = p as unknown as Record<string, boolean>;
  return ['qr', 'aa', 'tc', 'rd', 'ra'].filter((flag) => f[`flag_${flag}`]).join(' ');
}

export interface OptView {
  udpPayloadSize: number;
  ednsVersion: number;
  extendedRcode: number;
}
export const optsOf = (p: Decoded): OptView[] => p.additionals.filter((r) => r.type === 'OPT') as unknown as OptView[];
export const withoutOpt = (records: dnsPacket.Answer[] = []) => records.filter((r) => r.type !== 'OPT');

export interface RawRecord {
  section: 'answer' | 'authority' | 'additional';
  at: number; // where the record starts
  owner: number[]; // the owner name's octets as written (labels, then 0 or a pointer)
  type: number;
  dataAt: number;
  dataLength: number;
}

// The octets of the name at `offset` as written, up to and with its end
// (a root label or a pointer), and where it ends.
export function writtenName(message: Buffer, offset: number): { octets: number[]; end: number } {
  const octets: number[] = [];
  for (;;) {
    const length = message[offset];
    assert.ok(length !== undefined, `name at ${offset} runs past the end`);
    if (length >= 0xc0) {
      octets.push(length, message[offset + 1]!);
      return { octets, end: offset + 2 };
    }
    octets.push(...message.subarray(offset, offset + length + 1));
    offset += length + 1;
    if (length === 0) return { octets, end: offset };
  }
}

// Every record of a response, as written.
export function rawRecords(message: Buffer): RawRecord[] {
  let offset = 12;
  for (let i = 0; i < message.readUInt16BE(4); i++) offset = writtenName(message, offset).end + 4;
  const counts = [message.readUInt16BE(6), message.readUInt16BE(8), message.readUInt16BE(10)];
  const sections = ['answer', 'authority', 'additional'] as const;
  const records: RawRecord[] = [];
  sections.forEach((section, s) => {
    for (let i = 0; i < counts[s]!; i++) {
      const at = offset;
      const owner = writtenName(message, offset);
      const type = message.readUInt16BE(owner.end);
      const dataLength = message.readUInt16BE(owner.end + 8);
      records.push({ section, at, owner: owner.octets, type, dataAt: owner.end + 10, dataLength });
      offset = owner.end + 10 + dataLength;
    }
  });
  assert.equal(offset, message.length, 'records end where the message does');
  return records;
}

export const isPointer = (octets: number[]): boolean => octets.length === 2 && octets[0]! >= 0xc0;
export const pointerTarget = (octets: number[]): number => ((octets[0]! & 0x3f) << 8) | octets[1]!;
