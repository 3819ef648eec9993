// Asks two DNS servers the same questions and lists where their answers
// differ: the RCODE, or the answer RRsets as sets (order and TTL aside;
// round robin may rotate them). EDNS with 1232 octets, TCP when truncated.
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import dnsPacket from 'dns-packet';
import type { Question } from './clusterset.js';

export interface Server {
  name: string;
  port: number;
  tcp: boolean; // answers over TCP too
}

const HOST = '127.0.0.1';
const TIMEOUT_MS = 2000;

export function absolute(name: string, zone: string): string {
  return name === '' ? zone : `${name}.${zone}`;
}

function encodeQuery(id: number, name: string, type: Question['type']): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: 'IN' }],
    additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232 } as dnsPacket.Answer],
  });
}

async function queryUdp(port: number, packet: Buffer, id: number): Promise<dnsPacket.Packet> {
  const socket = createSocket('udp4');
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer on UDP port ${port}`)), TIMEOUT_MS);
      socket.on('message', (message) => {
        const decoded = dnsPacket.decode(message);
        if (decoded.id !== id) return;
        clearTimeout(timer);
        resolve(decoded);
      });
      socket.send(packet, port, HOST);
    });
  } finally {
    socket.close();
  }
}

function queryTcp(port: number, packet: Buffer): Promise<dnsPacket.Packet> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, HOST);
    let data = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer on TCP port ${port}`));
    }, TIMEOUT_MS);
    socket.on('connect', () => {
      const length = Buffer.alloc(2);
      length.writeUInt16BE(packet.length);
      socket.write(Buffer.concat([length, packet]));
    });
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      if (data.length < 2 || data.length < 2 + data.readUInt16BE(0)) return;
      clearTimeout(timer);
      socket.destroy();
      resolve(dnsPacket.decode(data.subarray(2)));
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

export function ask(port: number, name: string, type: Question['type'], transport: 'udp' | 'tcp' = 'udp'): Promise<dnsPacket.Packet> {
  const id = Math.floor(Math.random() * 65536);
  const packet = encodeQuery(id, name, type);
  return transport === 'udp' ? queryUdp(port, packet, id) : queryTcp(port, packet);
}

const truncated = (p: dnsPacket.Packet): boolean => ((p.flags ?? 0) & dnsPacket.TRUNCATED_RESPONSE) !== 0;

// dns-packet decodes the RCODE but its types leave it out.
const rcodeOf = (p: dnsPacket.Packet): string => (p as { rcode?: string }).rcode ?? '?';

// "NOERROR A 10.0.0.1 | A 10.0.0.2": comparable whatever the order of records.
function answerText(p: dnsPacket.Packet): string {
  const records = (p.answers ?? []).map((a) => `${a.name.toLowerCase()} ${a.type} ${'data' in a ? JSON.stringify(a.data) : ''}`.toLowerCase());
  return [rcodeOf(p), ...records.sort()].join(' | ');
}

// Polls until the server answers the zone's SOA.
export async function waitForAnswers(server: Server, zone: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const answer = await ask(server.port, zone, 'SOA');
      if (rcodeOf(answer) === 'NOERROR') return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${server.name} did not answer on port ${server.port} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export interface Mismatch {
  question: string;
  answers: string[]; // per server
}

// The first server is the reference. Servers with TCP are compared on the
// whole answer (over TCP when UDP is truncated); UDP-only servers on their
// UDP answer, truncation included.
export async function compareAnswers(servers: Server[], questions: Question[], zone: string): Promise<Mismatch[]> {
  const mismatches: Mismatch[] = [];
  for (const q of questions) {
    const name = absolute(q.name, zone);
    const udp = await Promise.all(servers.map((s) => ask(s.port, name, q.type)));
    const whole = await Promise.all(servers.map((s, i) => (s.tcp && truncated(udp[i]!) ? ask(s.port, name, q.type, 'tcp') : udp[i]!)));
    const text = (p: dnsPacket.Packet): string => `${truncated(p) ? 'TC ' : ''}${answerText(p)}`;
    const answers = servers.map((s, i) => (s.tcp ? text(whole[i]!) : text(udp[i]!)));
    const differs = servers.some((s, i) => answers[i] !== (s.tcp ? text(whole[0]!) : text(udp[0]!)));
    if (differs) mismatches.push({ question: `${name} ${q.type}`, answers });
  }
  return mismatches;
}
