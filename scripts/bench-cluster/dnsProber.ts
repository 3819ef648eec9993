// One UDP socket that asks many DNS questions at once, each answer
// time-stamped on arrival. Queries carry EDNS0 (4096 bytes) so that large
// headless answers fit; a truncated answer is asked again over TCP.
import { createSocket, type Socket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import dnsPacket from 'dns-packet';
import { queryTcp } from '../../test/support/dnsClient.js';
import type { ViewRecord } from '../../shared/view.js';

export interface Reply {
  packet: dnsPacket.Packet;
  at: number; // performance.now() when it arrived
}

const TRUNCATED = 1 << 9;

export class DnsProber {
  private readonly pending = new Map<number, (reply: Reply) => void>();
  private nextId = 0;

  private constructor(private readonly socket: Socket) {
    socket.on('message', (message) => {
      const at = performance.now();
      const id = message.readUInt16BE(0);
      const resolve = this.pending.get(id);
      if (!resolve) return; // late, after its timeout
      this.pending.delete(id);
      resolve({ packet: dnsPacket.decode(message), at });
    });
  }

  static async open(): Promise<DnsProber> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    // Room for bursts of large answers.
    socket.setRecvBufferSize(8 * 1024 * 1024);
    return new DnsProber(socket);
  }

  // The reply, or undefined when none came within timeoutMs.
  query(port: number, name: string, type: dnsPacket.RecordType, timeoutMs: number): Promise<Reply | undefined> {
    const id = this.freeId();
    const message = dnsPacket.encode({
      type: 'query',
      id,
      questions: [{ type, name, class: 'IN' }],
      additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096 } as dnsPacket.Answer],
    });
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve(undefined);
      }, timeoutMs);
      this.pending.set(id, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      this.socket.send(message, port, '127.0.0.1');
    });
  }

  // As query(), but a truncated reply is replaced by the TCP answer.
  async queryWhole(port: number, name: string, type: dnsPacket.RecordType, timeoutMs: number): Promise<Reply | undefined> {
    const reply = await this.query(port, name, type, timeoutMs);
    if (!reply || ((reply.packet.flags ?? 0) & TRUNCATED) === 0) return reply;
    const packet = await queryTcp(port, name, type).catch(() => undefined);
    return packet && { packet, at: performance.now() };
  }

  close(): void {
    this.socket.close();
  }

  private freeId(): number {
    do this.nextId = (this.nextId + 1) & 0xffff;
    while (this.pending.has(this.nextId));
    return this.nextId;
  }
}

export function rcodeOf(packet: dnsPacket.Packet): string {
  return (packet as { rcode?: string }).rcode ?? 'NOERROR';
}

// An answer section as sorted strings, comparable with expectedAnswer().
export function answerOf(packet: dnsPacket.Packet): string[] {
  return (packet.answers ?? [])
    .map((a) => {
      if (a.type === 'SRV') return `SRV ${a.data.priority ?? 0} ${a.data.weight ?? 0} ${a.data.port} ${a.data.target.toLowerCase()}`;
      return `${a.type} ${'data' in a ? String(a.data) : ''}`;
    })
    .sort();
}

// What the record model says the answer section holds for `type` at a name.
export function expectedAnswer(records: ViewRecord[], type: 'A' | 'AAAA' | 'SRV', zone: string): string[] {
  return records
    .filter((r) => r.type === type)
    .map((r) => (r.type === 'SRV' ? `SRV ${r.priority} ${r.weight} ${r.port} ${r.target}.${zone}` : `${r.type} ${r.address}`))
    .sort();
}

export interface Check {
  name: string;
  type: 'A' | 'AAAA' | 'SRV';
  answer: string[]; // as answerOf() gives it, NOERROR
}

export function isRight(reply: Reply | undefined, check: Check): boolean {
  return reply !== undefined && rcodeOf(reply.packet) === 'NOERROR' && answerOf(reply.packet).join() === check.answer.join();
}

const ROUND_PAUSE_MS = 20;
const IN_FLIGHT = 32; // questions at once per round, so that large answers are not dropped

// Asks every check of every port until each port answered them all
// correctly; resolves with when (performance.now()) each port did, or rejects
// at the deadline naming a check still failing. Between full rounds it asks
// only one failing check, until that one is right: a frontend busy syncing
// is not kept busier answering hundreds of questions every 20 ms.
export async function whenAnswered(prober: DnsProber, ports: number[], checks: Check[], deadline: number): Promise<number[]> {
  return Promise.all(
    ports.map(async (port) => {
      let failing = checks;
      let last = '';
      const failingOf = async (asked: Check[]) => {
        const stillFailing: Check[] = [];
        for (let i = 0; i < asked.length; i += IN_FLIGHT) {
          await Promise.all(
            asked.slice(i, i + IN_FLIGHT).map(async (check) => {
              const reply = await prober.queryWhole(port, check.name, check.type, 1000);
              if (!isRight(reply, check)) {
                stillFailing.push(check);
                const got = reply ? `${rcodeOf(reply.packet)} ${answerOf(reply.packet).join(', ')}` : 'no reply';
                last = `${check.name} ${check.type}: got ${got.slice(0, 200)}; want NOERROR ${check.answer.join(', ').slice(0, 200)}`;
              }
            }),
          );
        }
        return stillFailing;
      };
      for (let full = true; ; ) {
        if (full) failing = await failingOf(failing);
        if (failing.length === 0) return performance.now();
        if (performance.now() > deadline) throw new Error(`port ${port}: ${failing.length} of ${checks.length} names still not right, e.g. ${last}`);
        await new Promise((resolve) => setTimeout(resolve, ROUND_PAUSE_MS));
        full = (await failingOf(failing.slice(0, 1))).length === 0;
      }
    }),
  );
}
