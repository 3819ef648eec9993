// The DNS frontend process part: follows a ViewFeed into an answer table and
// speaks DNS over UDP and TCP on one port. Everything it answers comes from
// respond.ts; this file only owns sockets, the feed and their failures, and
// hands what falls through (CoreDNS's `fallthrough`) to the upstreams.

import dgram from 'node:dgram';
import net from 'node:net';
import type { Readiness } from '../../shared/httpServer.js';
import { silentLogger, type Logger } from '../../shared/logger.js';
import { rcodeLabel, type FrontendMetrics, type QueryCounts } from '../../shared/metrics.js';
import type { DnsView, ViewDelta, ViewFeed } from '../../shared/view.js';
import { answersBuilder, applyDelta, compileAnswers, pendingAnswers, type AnswerOptions, type AnswerTable } from './answers.js';
import { ChunkSupply } from './chunkSupply.js';
import { CHUNK_SIZE, NameArena } from './nameArena.js';
import { respond, type ViewRouting } from './respond.js';
import { isTransferRequest, transferMessages } from './transfer.js';
import { Forwarder, type Upstream } from './upstream.js';
import { FLAG, RCODE, TYPE, isLabelStart, nameKey, parseQuery, type Query } from './wire.js';

export interface FrontendOptions {
  zones: string[];
  listen: { host: string; port: number };
  ttl?: number; // default 5
  startupTimeoutMs?: number; // default 5000
  logger?: Logger;
  tcpIdleTimeoutMs?: number; // default 10000
  tcpMaxConnections?: number; // default 1000
  metrics?: FrontendMetrics;
  // What would be NXDOMAIN in these zones (every zone when none are listed)
  // goes to the upstreams; without upstreams it stays NXDOMAIN.
  fallthrough?: { zones: string[] };
  upstreams?: Upstream[]; // tried in order; names outside every zone go there too instead of REFUSED
  upstreamTimeoutMs?: number; // per try; default 2000
  upstreamMaxInFlight?: number; // forwarded queries at once, beyond which SERVFAIL; default 1000
  // Clients (CIDRs or addresses, IPv4 and IPv6) that may transfer the zones
  // (AXFR/IXFR over TCP); everyone else, and UDP, gets REFUSED.
  allowTransfer?: string[];
  answers?: AnswerOptions; // round robin and --max-endpoints
  // Clients in `networks` (CIDRs or addresses) are answered as the importing
  // cluster `cluster` sees the clusterset (its overlay in the view); the
  // first entry whose networks hold the client wins; everyone else gets the union.
  views?: { cluster: string; networks: string[] }[];
  // Clients (CIDRs or addresses) whose EDNS Client Subnet option (RFC 7871)
  // picks the view instead of their own address, e.g. a forwarding resolver.
  trustEcs?: string[];
}

const DEFAULT_TTL = 5;
const DEFAULT_STARTUP_TIMEOUT_MS = 5000;
const DEFAULT_TCP_IDLE_TIMEOUT_MS = 10_000;
const DEFAULT_TCP_MAX_CONNECTIONS = 1000;
const PORT_ATTEMPTS = 10; // port 0: tries to find one free for both UDP and TCP
const TCP_LENGTH_PREFIX = 2;
const PLAIN_UDP_LIMIT = 512;

export class Frontend {
  private table: AnswerTable;
  private awaitingSnapshot = true; // before the first snapshot and after a gap, deltas cannot apply
  private readonly ttl: number;
  private readonly log: Logger;
  private metrics: FrontendMetrics | undefined;
  private queryCounts: QueryCounts | undefined;
  private unsubscribe: (() => void) | undefined;
  private firstSnapshot: (() => void) | undefined;
  private udp: dgram.Socket | undefined;
  private tcp: net.Server | undefined;
  private readonly connections = new Set<net.Socket>();
  private bound: { host: string; port: number } | undefined;
  private stopped = false;
  private readonly forwarder: Forwarder | undefined;
  private readonly forwarding: ForwardingRule;
  private readonly transferClients: net.BlockList | undefined;
  private readonly routing: ViewRouting | undefined;
  private readonly viewClusters: string[];

  constructor(
    private readonly feed: ViewFeed,
    private readonly opts: FrontendOptions,
  ) {
    this.ttl = opts.ttl ?? DEFAULT_TTL;
    this.log = opts.logger ?? silentLogger;
    const views = opts.views ?? [];
    this.viewClusters = [...new Set(views.map((v) => v.cluster))];
    this.routing = views.length > 0 ? viewRouting(views, this.viewClusters, opts.trustEcs ?? []) : undefined;
    this.table = pendingAnswers(opts.zones, this.ttl, opts.answers, this.viewClusters);
    if (opts.metrics) this.measure(opts.metrics);
    this.forwarding = forwardingRule(opts.zones, opts.fallthrough?.zones);
    this.transferClients = opts.allowTransfer && opts.allowTransfer.length > 0 ? addressList(opts.allowTransfer, 'allowTransfer') : undefined;
    if (opts.upstreams && opts.upstreams.length > 0) {
      this.forwarder = new Forwarder({ upstreams: opts.upstreams, timeoutMs: opts.upstreamTimeoutMs, maxInFlight: opts.upstreamMaxInFlight, logger: this.log });
    }
  }

  get address(): { host: string; port: number } {
    return this.bound ?? { ...this.opts.listen };
  }

  get version(): number | undefined {
    return this.table.version;
  }

  // Every cluster of the served view finished its first sync.
  get synced(): boolean {
    return this.table.synced;
  }

  // Counts queries and observes the view into `metrics` from now on.
  measure(metrics: FrontendMetrics): void {
    this.metrics = metrics;
    this.queryCounts = metrics.queries;
    if (this.table.version !== undefined) metrics.snapshotVersion.set(this.table.version);
  }

  readiness(): Readiness {
    if (this.version === undefined) return { ok: false, reason: 'no view snapshot yet' };
    if (!this.synced) return { ok: false, reason: 'the view has clusters that have not finished their first sync' };
    return { ok: true };
  }

  async start(): Promise<void> {
    const snapshotArrived = new Promise<void>((resolve) => (this.firstSnapshot = resolve));
    // The first snapshot's names go to memory a helper thread touched first: the rest live without one.
    const chunks = new ChunkSupply(CHUNK_SIZE);
    this.unsubscribe = this.feed.subscribe({
      snapshot: (view) => this.onSnapshot(view),
      // Answers compiled straight from a snapshot as it is read: the view is never held whole.
      snapshotBuilder: () => answersBuilder(this.opts.zones, this.ttl, this.opts.answers, this.viewClusters, (table) => this.serve(table), new NameArena(chunks.take)),
      delta: (delta) => this.onDelta(delta),
    });
    const timeoutMs = this.opts.startupTimeoutMs ?? DEFAULT_STARTUP_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs)));
    if (await Promise.race([snapshotArrived.then(() => false), timedOut])) {
      this.log.warn({ timeoutMs }, 'no view snapshot yet; answering SERVFAIL in the zones until one arrives');
    }
    clearTimeout(timer);
    chunks.stop();
    if (this.stopped) return; // stopped while waiting for a snapshot
    await this.listen();
    this.log.info({ address: this.bound, zones: this.opts.zones, version: this.version }, 'DNS frontend listening');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.firstSnapshot?.(); // ends a start() still waiting
    this.forwarder?.close();
    for (const socket of this.connections) socket.destroy();
    const udp = this.udp;
    const tcp = this.tcp;
    this.udp = undefined;
    this.tcp = undefined;
    await Promise.all([
      udp && new Promise<void>((resolve) => udp.close(() => resolve())),
      tcp && new Promise<void>((resolve) => tcp.close(() => resolve())),
    ]);
  }

  private onSnapshot(view: DnsView): void {
    try {
      this.serve(compileAnswers(view, this.opts.zones, this.ttl, this.opts.answers, this.viewClusters));
    } catch (err) {
      this.log.error({ err, version: view.version }, 'view snapshot could not be compiled; keeping the previous answers');
      this.started();
    }
  }

  // Answers from `table`, compiled from a whole snapshot, from now on.
  private serve(table: AnswerTable): void {
    this.table = table;
    this.awaitingSnapshot = false;
    this.metrics?.snapshotVersion.set(table.version!);
    this.log.debug({ version: table.version }, 'view snapshot loaded');
    this.started();
  }

  private started(): void {
    this.firstSnapshot?.();
    this.firstSnapshot = undefined;
  }

  private onDelta(delta: ViewDelta): void {
    if (this.awaitingSnapshot) return;
    try {
      if (applyDelta(this.table, delta)) {
        if (this.metrics) this.observeApplied(this.metrics, delta);
        return;
      }
      this.log.warn({ from: delta.from, to: delta.to, version: this.table.version }, 'view delta does not follow the served version; waiting for the next snapshot');
    } catch (err) {
      this.log.error({ err, from: delta.from, to: delta.to }, 'view delta could not be applied; waiting for the next snapshot');
    }
    this.awaitingSnapshot = true;
  }

  // The delta's changes are answerable from now on.
  private observeApplied(metrics: FrontendMetrics, delta: ViewDelta): void {
    metrics.snapshotVersion.set(delta.to);
    if (!delta.observedAt) return;
    const now = Date.now();
    // Clocks of other hosts may run ahead: never a negative latency.
    for (const at of delta.observedAt) metrics.programmingLatency.observe(Math.max(0, now - at) / 1000);
  }

  private async listen(): Promise<void> {
    const { host, port } = this.opts.listen;
    for (let attempt = 1; ; attempt++) {
      const udp = await openUdp(host, port).catch((err: unknown) => {
        throw listenError(host, port, err);
      });
      const udpPort = udp.address().port;
      try {
        this.tcp = await openTcp(host, udpPort, this.opts.tcpMaxConnections ?? DEFAULT_TCP_MAX_CONNECTIONS, (socket) => this.onConnection(socket));
      } catch (err) {
        udp.close();
        if (port === 0 && errorCode(err) === 'EADDRINUSE' && attempt < PORT_ATTEMPTS) continue;
        throw listenError(host, udpPort, err);
      }
      this.udp = udp;
      this.bound = { host, port: udpPort };
      udp.on('message', (packet, peer) => this.onDatagram(packet, peer));
      udp.on('error', (err) => this.log.debug({ err }, 'UDP response not sent'));
      this.tcp.on('error', (err) => this.log.warn({ err }, 'TCP server error'));
      return;
    }
  }

  private onDatagram(packet: Buffer, peer: dgram.RemoteInfo): void {
    try {
      const response = respond(packet, this.table, 'udp', this.queryCounts, peer.address, this.routing);
      if (!response) return;
      const upstream = this.fallthrough(packet, response);
      if (upstream) {
        const udpLimit = upstream.query.edns ? Math.max(PLAIN_UDP_LIMIT, upstream.query.edns.payloadSize) : PLAIN_UDP_LIMIT;
        this.relay(upstream, packet, udpLimit, (answer) => this.udp?.send(answer, peer.port, peer.address));
        return;
      }
      // No send callback: without one, libuv may send at once and skip a completion; errors reach 'error'.
      this.udp?.send(response, peer.port, peer.address);
    } catch (err) {
      this.log.error({ err, peer: peer.address }, 'UDP query failed');
    }
  }

  private onConnection(socket: net.Socket): void {
    this.connections.add(socket);
    socket.setNoDelay(true);
    socket.setTimeout(this.opts.tcpIdleTimeoutMs ?? DEFAULT_TCP_IDLE_TIMEOUT_MS, () => socket.destroy());
    socket.on('error', (err) => this.log.debug({ err }, 'TCP connection error'));
    socket.on('close', () => this.connections.delete(socket));
    socket.on('drain', () => socket.resume());
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      try {
        pending = this.answerFrames(socket, pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk);
      } catch (err) {
        this.log.error({ err }, 'TCP query failed');
        socket.destroy();
      }
    });
  }

  // The forwarder and the query, when the upstreams answer instead of `response`.
  private fallthrough(packet: Buffer, response: Buffer): { forwarder: Forwarder; query: Query } | undefined {
    if (!this.forwarder || !fallsThrough(response)) return undefined;
    const query = forwardedQuery(packet, response, this.forwarding);
    return query && { forwarder: this.forwarder, query };
  }

  // The transfer's messages, when `response` (REFUSED) answers a transfer
  // request from an allowed client; undefined leaves it REFUSED.
  private transfer(packet: Buffer, response: Buffer, client: string | undefined): Buffer[] | undefined {
    if (!this.transferClients || rcodeOf(response) !== RCODE.REFUSED || !isTransferRequest(parseQuery(packet))) return undefined;
    if (!allowed(this.transferClients, client)) {
      this.log.info({ client }, 'zone transfer refused: client not in allowTransfer');
      return undefined;
    }
    return transferMessages(this.table, packet);
  }

  // Sends the upstreams' answer, or SERVFAIL when none came, and counts what the client got.
  private relay(upstream: { forwarder: Forwarder; query: Query }, packet: Buffer, udpLimit: number | undefined, send: (answer: Buffer) => void): void {
    upstream.forwarder
      .forward(packet, udpLimit)
      .then((answer) => {
        const sent = answer ?? servfail(packet, upstream.query);
        this.metrics?.forwarded.inc({ rcode: rcodeLabel(rcodeOf(sent)) });
        send(sent);
      })
      .catch((err: unknown) => this.log.error({ err }, 'forwarded answer not sent'));
  }

  // Answers every complete length-prefixed query in `data`, in order, and
  // returns the incomplete rest. An unanswerable frame closes the connection.
  private answerFrames(socket: net.Socket, data: Buffer): Buffer {
    let at = 0;
    while (data.length - at >= TCP_LENGTH_PREFIX) {
      const end = at + TCP_LENGTH_PREFIX + data.readUInt16BE(at);
      if (end > data.length) break;
      const packet = data.subarray(at + TCP_LENGTH_PREFIX, end);
      const response = respond(packet, this.table, 'tcp', this.queryCounts, socket.remoteAddress, this.routing);
      at = end;
      if (!response) {
        socket.destroy();
        return Buffer.alloc(0);
      }
      const transfer = this.transfer(packet, response, socket.remoteAddress);
      if (transfer) {
        for (const message of transfer) writeFrame(socket, message);
        continue;
      }
      const upstream = this.fallthrough(packet, response);
      if (upstream) {
        // Pipelined answers may come back out of order (RFC 7766 6.2.1.1).
        this.relay(upstream, packet, undefined, (answer) => {
          if (!socket.destroyed) writeFrame(socket, answer);
        });
        continue;
      }
      writeFrame(socket, response);
    }
    return data.subarray(at);
  }
}

function writeFrame(socket: net.Socket, message: Buffer): void {
  const framed = Buffer.allocUnsafe(TCP_LENGTH_PREFIX + message.length);
  framed.writeUInt16BE(message.length, 0);
  message.copy(framed, TCP_LENGTH_PREFIX);
  // A client that pipelines without reading gets no more answers queued.
  if (!socket.write(framed)) socket.pause();
}

// Which answers go to the upstreams instead, as name keys: NXDOMAIN under a
// fallthrough zone, REFUSED outside every zone (CoreDNS: the next plugin).
interface ForwardingRule {
  zones: string[];
  fallthrough: string[] | undefined; // "" is the root: every name
}

function forwardingRule(zones: string[], fallthrough: string[] | undefined): ForwardingRule {
  const key = (zone: string): string => nameKey(zone.toLowerCase().replace(/\.$/, ''));
  return { zones: zones.map(key), fallthrough: fallthrough && (fallthrough.length > 0 ? fallthrough.map(key) : ['']) };
}

const rcodeOf = (response: Buffer): number => response[3]! & 0x0f;

// The response's RCODE could send it upstream: a cheap test before the query is read again.
function fallsThrough(response: Buffer): boolean {
  const rcode = rcodeOf(response);
  return rcode === RCODE.NXDOMAIN || rcode === RCODE.REFUSED;
}

// The query, when `response` (NXDOMAIN or REFUSED) is to be replaced by the
// upstreams' answer. While not synced an in-zone name is SERVFAIL, never
// NXDOMAIN, so it stays here: the name may exist.
function forwardedQuery(packet: Buffer, response: Buffer, rule: ForwardingRule): Query | undefined {
  const query = parseQuery(packet);
  if (query.kind !== 'query' || query.qtype === TYPE.AXFR || query.qtype === TYPE.IXFR) return undefined;
  const forward = rcodeOf(response) === RCODE.NXDOMAIN ? rule.fallthrough !== undefined && underAny(query.name(packet), rule.fallthrough) : !underAny(query.name(packet), rule.zones);
  return forward ? query : undefined;
}

function underAny(name: string, zones: string[]): boolean {
  return zones.some((zone) => name.endsWith(zone) && isLabelStart(name, name.length - zone.length));
}

// `views` is non-empty; `clusters` are their clusters, each once, as AnswerTable.views holds them.
function viewRouting(views: { cluster: string; networks: string[] }[], clusters: string[], trustEcs: string[]): ViewRouting {
  return {
    anyView: addressList(views.flatMap((v) => v.networks), 'views'),
    views: views.map((v) => ({ view: clusters.indexOf(v.cluster), networks: addressList(v.networks, `views (${v.cluster})`) })),
    trustEcs: trustEcs.length > 0 ? addressList(trustEcs, 'trustEcs') : undefined,
  };
}

// `option` names the setting in the error.
function addressList(cidrs: string[], option: string): net.BlockList {
  const list = new net.BlockList();
  for (const cidr of cidrs) {
    const [address = '', bits, ...rest] = cidr.trim().split('/');
    const family = net.isIP(address);
    const max = family === 6 ? 128 : 32;
    const prefix = bits === undefined ? max : /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
    if (family === 0 || rest.length > 0 || !(prefix <= max)) {
      throw new Error(`${option}: ${JSON.stringify(cidr)} is not an IP address or CIDR`);
    }
    list.addSubnet(address, prefix, family === 6 ? 'ipv6' : 'ipv4');
  }
  return list;
}

// BlockList matches an IPv4 client of a dual-stack socket (::ffff:a.b.c.d) against IPv4 ranges itself.
function allowed(list: net.BlockList, client: string | undefined): boolean {
  return client !== undefined && list.check(client, net.isIPv6(client) ? 'ipv6' : 'ipv4');
}

// SERVFAIL with the question when no upstream answered.
function servfail(packet: Buffer, query: Query): Buffer {
  const out = Buffer.alloc(query.questionEnd);
  packet.copy(out, 0, 0, query.questionEnd);
  out.writeUInt16BE(FLAG.QR | (query.flags & FLAG.RD) | RCODE.SERVFAIL, 2);
  out.writeUInt16BE(1, 4);
  return out;
}

// The listen host is an address and replies go to the senders' addresses,
// so the lookup dgram runs before every send can hand the literal back at
// once (measured: ~9% more queries/s). The family is the socket's.
function literalLookup(family: 4 | 6) {
  return (address: string, _options: unknown, callback: (err: Error | null, address: string, family: number) => void): void => callback(null, address, family);
}

function openUdp(host: string, port: number): Promise<dgram.Socket> {
  const family = net.isIP(host);
  const socket = dgram.createSocket({ type: family === 6 ? 'udp6' : 'udp4', ...(family !== 0 ? { lookup: literalLookup(family === 6 ? 6 : 4) } : {}) });
  return new Promise((resolve, reject) => {
    const failed = (err: Error): void => {
      socket.close();
      reject(err);
    };
    socket.once('error', failed);
    socket.bind(port, host, () => {
      socket.off('error', failed);
      resolve(socket);
    });
  });
}

function openTcp(host: string, port: number, maxConnections: number, onConnection: (socket: net.Socket) => void): Promise<net.Server> {
  const server = net.createServer(onConnection);
  server.maxConnections = maxConnections;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

function errorCode(err: unknown): string | undefined {
  return err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

function listenError(host: string, port: number, err: unknown): Error {
  const where = net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
  const code = errorCode(err);
  const why = code === 'EADDRINUSE' ? 'address already in use' : code === 'EADDRNOTAVAIL' ? 'address not available on this host' : err instanceof Error ? err.message : String(err);
  return new Error(`DNS frontend cannot listen on ${where}: ${why}`);
}
