// Forwards raw DNS queries to upstream servers (CoreDNS's `forward` behind a
// `fallthrough`): UDP first, TCP when the answer is truncated, the next
// upstream after a timeout or error. Only the header and the question's
// octets are looked at; the answer goes back as the upstream wrote it.

import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { silentLogger, type Logger } from '../../shared/logger.js';
import { FLAG, HEADER_LENGTH } from './wire.js';

export interface Upstream {
  host: string; // an IP address
  port: number;
}

export interface ForwarderOptions {
  upstreams: Upstream[]; // tried in this order
  timeoutMs?: number; // per try; default 2000
  maxInFlight?: number; // queries forwarded at once; default 1000
  logger?: Logger;
}

const DEFAULT_TIMEOUT_MS = 2000;
const DEFAULT_MAX_IN_FLIGHT = 1000;
const TCP_LENGTH_PREFIX = 2;
const ID_SPACE = 0x10000;
const WARN_INTERVAL_MS = 10_000; // an upstream outage logs once in this long, not once a query

export class Forwarder {
  private readonly upstreams: Upstream[];
  private readonly timeoutMs: number;
  private readonly maxInFlight: number;
  private readonly log: Logger;
  private readonly tries = new Set<{ abort: () => void }>();
  private forwarding = 0;
  private closed = false;
  private unanswered = 0; // since the last warning
  private warnedAt = 0;

  constructor(opts: ForwarderOptions) {
    if (opts.upstreams.length === 0) throw new Error('a forwarder needs at least one upstream');
    for (const u of opts.upstreams) {
      if (net.isIP(u.host) === 0 || !Number.isInteger(u.port) || u.port < 1 || u.port > 0xffff) {
        throw new Error(`upstream ${JSON.stringify(`${u.host}:${u.port}`)} is not an IP address and port`);
      }
    }
    this.upstreams = opts.upstreams.map((u) => ({ ...u }));
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxInFlight = opts.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    this.log = opts.logger ?? silentLogger;
  }

  // The upstream's response with the query's id, or undefined when no
  // upstream answered or too many queries are under way (SERVFAIL then).
  // `udpLimit`: the client asked over UDP and accepts this many octets;
  // absent, the client asked over TCP.
  async forward(query: Buffer, udpLimit?: number): Promise<Buffer | undefined> {
    if (this.closed || query.length < HEADER_LENGTH) return undefined;
    if (this.forwarding >= this.maxInFlight) {
      this.log.debug({ inFlight: this.forwarding }, 'too many queries forwarded at once; SERVFAIL');
      return undefined;
    }
    this.forwarding++;
    try {
      for (const upstream of this.upstreams) {
        const response = await this.ask(upstream, query, udpLimit).catch((err: unknown) => {
          if (!this.closed) this.log.debug({ err, upstream }, 'upstream did not answer; trying the next');
          return undefined;
        });
        if (this.closed) return undefined;
        if (response) {
          response.writeUInt16BE(query.readUInt16BE(0), 0);
          return response;
        }
      }
      this.noAnswer();
      return undefined;
    } finally {
      this.forwarding--;
    }
  }

  // Ends every try under way; their queries get undefined.
  close(): void {
    this.closed = true;
    for (const t of [...this.tries]) t.abort();
  }

  private noAnswer(): void {
    this.unanswered++;
    const now = Date.now();
    if (now - this.warnedAt < WARN_INTERVAL_MS) return;
    this.log.warn({ upstreams: this.upstreams, queries: this.unanswered }, 'no upstream answered forwarded queries; SERVFAIL');
    this.unanswered = 0;
    this.warnedAt = now;
  }

  // One upstream: UDP, and TCP when its UDP answer is truncated. The client
  // gets the truncated one when the whole does not fit its limit or TCP
  // fails: it can ask again over TCP itself.
  private async ask(upstream: Upstream, query: Buffer, udpLimit: number | undefined): Promise<Buffer> {
    if (udpLimit === undefined) return this.exchange(upstream, query, 'tcp');
    const udpAnswer = await this.exchange(upstream, query, 'udp');
    if (!(udpAnswer.readUInt16BE(2) & FLAG.TC)) return udpAnswer;
    const whole = await this.exchange(upstream, query, 'tcp').catch(() => udpAnswer);
    return whole.length <= udpLimit ? whole : udpAnswer;
  }

  // One try with a fresh random id; rejects on timeout, error or close.
  private exchange(upstream: Upstream, query: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer> {
    const packet = Buffer.from(query);
    packet.writeUInt16BE(randomInt(ID_SPACE), 0);
    return new Promise<Buffer>((resolve, reject) => {
      const attempt = { abort: () => finish(new Error('forwarder closed')) };
      const finish = (outcome: Buffer | Error): void => {
        if (!this.tries.delete(attempt)) return; // settled already
        clearTimeout(timer);
        release();
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      };
      const timer = setTimeout(() => finish(new Error(`no ${transport.toUpperCase()} answer within ${this.timeoutMs} ms`)), this.timeoutMs);
      this.tries.add(attempt);
      const release = transport === 'udp' ? sendUdp(upstream, packet, finish) : sendTcp(upstream, packet, finish);
    });
  }
}

type Outcome = (answer: Buffer | Error) => void;

// A connected socket per try: the kernel drops datagrams from anyone but the
// upstream, and the source port is a fresh random one. Returns its closer.
function sendUdp(upstream: Upstream, packet: Buffer, done: Outcome): () => void {
  const socket = dgram.createSocket(net.isIPv6(upstream.host) ? 'udp6' : 'udp4');
  socket.on('error', (err) => done(err));
  socket.on('message', (message) => {
    if (answers(packet, message)) done(message); // anything else: keep waiting
  });
  socket.connect(upstream.port, upstream.host, () => socket.send(packet));
  return () => socket.close();
}

function sendTcp(upstream: Upstream, packet: Buffer, done: Outcome): () => void {
  const socket = net.connect({ host: upstream.host, port: upstream.port });
  const framed = Buffer.allocUnsafe(TCP_LENGTH_PREFIX + packet.length);
  framed.writeUInt16BE(packet.length, 0);
  packet.copy(framed, TCP_LENGTH_PREFIX);
  let received = Buffer.alloc(0);
  socket.setNoDelay(true);
  socket.on('connect', () => socket.write(framed));
  socket.on('error', (err) => done(err));
  socket.on('close', () => done(new Error('upstream closed the TCP connection without an answer')));
  socket.on('data', (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
    if (received.length < TCP_LENGTH_PREFIX) return;
    const end = TCP_LENGTH_PREFIX + received.readUInt16BE(0);
    if (received.length < end) return;
    const message = Buffer.from(received.subarray(TCP_LENGTH_PREFIX, end));
    done(answers(packet, message) ? message : new Error('upstream answered another query over TCP'));
  });
  return () => socket.destroy();
}

// Whether `message` is a response to `query`: same id, QR set, and the same
// question (letter case aside), or none at all (an error answer may omit it).
export function answers(query: Buffer, message: Buffer): boolean {
  if (message.length < HEADER_LENGTH || message.readUInt16BE(0) !== query.readUInt16BE(0)) return false;
  if (!(message.readUInt16BE(2) & FLAG.QR)) return false;
  const qdcount = message.readUInt16BE(4);
  if (qdcount === 0) return true;
  const end = questionEnd(query);
  if (qdcount !== 1 || end < 0 || message.length < end) return false;
  for (let at = HEADER_LENGTH; at < end; at++) if (lowerAscii(query[at]!) !== lowerAscii(message[at]!)) return false;
  return true;
}

// Offset just past the query's one question; -1 when it does not fit.
function questionEnd(query: Buffer): number {
  let at = HEADER_LENGTH;
  for (let length = query[at]; length !== 0; length = query[at]) {
    if (length === undefined || length > 63) return -1;
    at += length + 1;
  }
  return at + 5 <= query.length ? at + 5 : -1;
}

const lowerAscii = (octet: number): number => (octet >= 0x41 && octet <= 0x5a ? octet | 0x20 : octet);
