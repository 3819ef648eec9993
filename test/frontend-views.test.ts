// Answers per importing cluster over real sockets: a Frontend with `views`
// (clients mapped to a cluster by source address, 127.0.0.x are all
// loopback) and `trustEcs` (a trusted resolver's EDNS Client Subnet picks the
// view), fed a DnsView with per-cluster overlays built as the aggregator
// would; UDP, TCP, deltas and `dig`.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { promisify } from 'node:util';
import { Frontend } from '../services/frontend/server.js';
import type { DnsView, ServiceRecords, ViewDelta, ViewFeed, ViewListener, ViewRecord } from '../shared/view.js';
import { decode, encodeQuery, type Decoded, Z } from './frontend-messages.js';

const UNION_CLIENT = '127.0.0.1'; // trusted for ECS, in no view
const EAST_CLIENT = '127.0.0.2';
const WEST_CLIENT = '127.0.0.3';
const OTHER_CLIENT = '127.0.0.4'; // in no view, not trusted
const NORTH_CLIENT = '127.0.0.5'; // a view whose cluster has no overlay

const A = (address: string): ViewRecord => ({ type: 'A', address });
const clusterSetIp = (ip: string, srv = true): ServiceRecords => ({
  names: {
    'web.prod.svc': [A(ip)],
    ...(srv ? { '_http._tcp.web.prod.svc': [{ type: 'SRV', priority: 0, weight: 100, port: 80, target: 'web.prod.svc' }] } : {}),
  },
});
const headless = (...endpoints: [cluster: string, host: string, ip: string][]): ServiceRecords => {
  const names: Record<string, ViewRecord[]> = { 'db.prod.svc': endpoints.map(([, , ip]) => A(ip)) };
  for (const [cluster, host, ip] of endpoints) names[`${host}.${cluster}.db.prod.svc`] = [A(ip)];
  return { names };
};

// The union holds both ClusterSetIPs; east and west each see their own, and
// west has no db at all.
function testView(): DnsView {
  const web = clusterSetIp('10.0.0.1');
  web.names['web.prod.svc']!.push(A('10.0.0.2'));
  return {
    version: 1,
    clusters: [
      { id: 'east', synced: true },
      { id: 'west', synced: true },
    ],
    namespaces: ['prod'],
    services: { 'prod/web': web, 'prod/db': headless(['east', 'pod-a', '10.1.0.1'], ['west', 'pod-b', '10.1.0.2']) },
    views: { east: { 'prod/web': clusterSetIp('10.0.0.1') }, west: { 'prod/web': clusterSetIp('10.0.0.2', false), 'prod/db': null } },
  };
}

class MemoryFeed implements ViewFeed {
  private readonly listeners = new Set<ViewListener>();
  constructor(private readonly view: DnsView) {}
  subscribe(listener: ViewListener): () => void {
    this.listeners.add(listener);
    listener.snapshot(this.view);
    return () => this.listeners.delete(listener);
  }
  delta(delta: ViewDelta): void {
    for (const l of this.listeners) l.delta(delta);
  }
}

// An ECS option (code 8) as RFC 7871 §6 writes it, `octets` address octets.
function ecsOption(address: string, prefix: number, octets = Math.ceil(prefix / 8), family = 1): { code: number; data: Buffer } {
  const bytes = Buffer.from(address.split('.').map(Number)).subarray(0, octets);
  return { code: 8, data: Buffer.concat([Buffer.from([0, family, prefix, 0]), bytes]) };
}

async function udpQuery(port: number, from: string, packet: Buffer): Promise<Decoded> {
  const socket = dgram.createSocket('udp4');
  try {
    await new Promise<void>((resolve) => socket.bind(0, from, resolve));
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no UDP answer from the frontend to ${from}`)), 2000);
      socket.once('message', (msg) => {
        clearTimeout(timer);
        resolve(msg);
      });
      socket.send(packet, port, '127.0.0.1');
    });
    return decode(reply);
  } finally {
    socket.close();
  }
}

async function tcpQuery(port: number, from: string, packet: Buffer): Promise<Decoded> {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress: from });
  try {
    socket.write(Buffer.concat([Buffer.from([packet.length >> 8, packet.length & 0xff]), packet]));
    let data = Buffer.alloc(0);
    for await (const chunk of socket) {
      data = Buffer.concat([data, chunk as Buffer]);
      if (data.length >= 2 && data.length >= 2 + data.readUInt16BE(0)) return decode(data.subarray(2, 2 + data.readUInt16BE(0)));
    }
    throw new Error('TCP connection closed without an answer');
  } finally {
    socket.destroy();
  }
}

const addresses = (p: Decoded): string[] => p.answers.map((r) => String('data' in r ? r.data : '')).sort();
// The response's ECS option as sent: family, source prefix, scope prefix, address octets.
const ecsOf = (p: Decoded): number[] | undefined => {
  const opt = p.additionals.find((r) => r.type === 'OPT') as unknown as { options: { code: number; data: Buffer }[] } | undefined;
  const ecs = opt?.options.find((o) => o.code === 8);
  return ecs && [...ecs.data];
};

const run = promisify(execFile);

describe('frontend: answers per importing cluster', () => {
  const feed = new MemoryFeed(testView());
  const frontend = new Frontend(feed, {
    zones: [Z],
    listen: { host: '127.0.0.1', port: 0 },
    views: [
      { cluster: 'east', networks: ['127.0.0.2/32'] },
      { cluster: 'west', networks: ['127.0.0.3/32'] },
      { cluster: 'north', networks: [NORTH_CLIENT] },
    ],
    trustEcs: ['127.0.0.1/32'],
  });
  let port = 0;
  const ask = (from: string, name: string, type = 'A', ednsOptions?: { code: number; data: Buffer }[]) =>
    udpQuery(port, from, encodeQuery(`${name}.${Z}`, type, ednsOptions ? { edns: 1232, ednsOptions } : {}));

  before(async () => {
    await frontend.start();
    port = frontend.address.port;
  });
  after(() => frontend.stop());

  it("gives each cluster's clients its own ClusterSetIP, everyone else the union", async () => {
    assert.deepEqual(addresses(await ask(EAST_CLIENT, 'web.prod.svc')), ['10.0.0.1']);
    assert.deepEqual(addresses(await ask(WEST_CLIENT, 'web.prod.svc')), ['10.0.0.2']);
    assert.deepEqual(addresses(await ask(UNION_CLIENT, 'web.prod.svc')), ['10.0.0.1', '10.0.0.2']);
    assert.deepEqual(addresses(await ask(NORTH_CLIENT, 'web.prod.svc')), ['10.0.0.1', '10.0.0.2'], 'a view without overlay: the union');
  });

  it('hides the union names of a service the overlay replaces', async () => {
    assert.equal((await ask(WEST_CLIENT, '_http._tcp.web.prod.svc', 'SRV')).rcode, 'NXDOMAIN');
    assert.equal((await ask(EAST_CLIENT, '_http._tcp.web.prod.svc', 'SRV')).answers.length, 1);
    assert.equal((await ask(UNION_CLIENT, '_http._tcp.web.prod.svc', 'SRV')).answers.length, 1);
  });

  it('answers NXDOMAIN for a service null in the overlay, its endpoints and the names only it needs', async () => {
    for (const name of ['db.prod.svc', 'pod-b.west.db.prod.svc', 'pod-a.east.db.prod.svc', 'west.db.prod.svc']) {
      const west = await ask(WEST_CLIENT, name);
      assert.deepEqual([west.rcode, west.answers.length], ['NXDOMAIN', 0], name);
    }
    const namespace = await ask(WEST_CLIENT, 'prod.svc');
    assert.deepEqual([namespace.rcode, namespace.answers.length], ['NOERROR', 0], '<ns>.svc stays an empty non-terminal');
    assert.deepEqual(addresses(await ask(EAST_CLIENT, 'db.prod.svc')), ['10.1.0.1', '10.1.0.2']);
    assert.deepEqual(addresses(await ask(UNION_CLIENT, 'pod-b.west.db.prod.svc')), ['10.1.0.2']);
    assert.equal((await ask(EAST_CLIENT, 'west.db.prod.svc')).rcode, 'NOERROR');
  });

  it("takes a trusted resolver's client subnet for the client and echoes it with scope = source prefix", async () => {
    const trusted = await ask(UNION_CLIENT, 'web.prod.svc', 'A', [ecsOption(WEST_CLIENT, 32)]);
    assert.deepEqual(addresses(trusted), ['10.0.0.2']);
    assert.deepEqual(ecsOf(trusted), [0, 1, 32, 32, 127, 0, 0, 3]);
    const subnet = await ask(UNION_CLIENT, 'web.prod.svc', 'A', [ecsOption('127.0.0.0', 8)]);
    assert.deepEqual(addresses(subnet), ['10.0.0.1', '10.0.0.2'], '127.0.0.0/8 lies in no view');
    assert.deepEqual(ecsOf(subnet), [0, 1, 8, 8, 127]);
  });

  it('ignores the client subnet of an untrusted client, and a /0 one', async () => {
    const untrusted = await ask(OTHER_CLIENT, 'web.prod.svc', 'A', [ecsOption(WEST_CLIENT, 32)]);
    assert.deepEqual(addresses(untrusted), ['10.0.0.1', '10.0.0.2']);
    assert.equal(ecsOf(untrusted), undefined);
    assert.deepEqual(addresses(await ask(EAST_CLIENT, 'web.prod.svc', 'A', [ecsOption(WEST_CLIENT, 32)])), ['10.0.0.1']);
    const zero = await ask(UNION_CLIENT, 'web.prod.svc', 'A', [ecsOption('0.0.0.0', 0)]);
    assert.deepEqual(addresses(zero), ['10.0.0.1', '10.0.0.2']);
    assert.deepEqual(ecsOf(zero), [0, 1, 0, 0]);
  });

  it('answers FORMERR to a malformed client subnet from a trusted client (RFC 7871 §6)', async () => {
    const malformed: [string, { code: number; data: Buffer }][] = [
      ['unknown family', ecsOption(WEST_CLIENT, 32, 4, 3)],
      ['prefix longer than the address', ecsOption(WEST_CLIENT, 33, 4)],
      ['too many address octets', ecsOption(WEST_CLIENT, 16, 3)],
      ['too few address octets', ecsOption(WEST_CLIENT, 32, 3)],
      ['bits beyond the prefix', ecsOption('127.0.0.3', 24, 4)],
      ['shorter than the fixed fields', { code: 8, data: Buffer.from([0, 1, 0]) }],
    ];
    for (const [what, option] of malformed) assert.equal((await ask(UNION_CLIENT, 'web.prod.svc', 'A', [option])).rcode, 'FORMERR', what);
    assert.equal((await ask(OTHER_CLIENT, 'web.prod.svc', 'A', [malformed[0]![1]])).rcode, 'NOERROR', 'untrusted: the option is not read');
  });

  it('answers per cluster over TCP too', async () => {
    const query = encodeQuery(`web.prod.svc.${Z}`, 'A');
    assert.deepEqual(addresses(await tcpQuery(port, WEST_CLIENT, query)), ['10.0.0.2']);
    assert.deepEqual(addresses(await tcpQuery(port, EAST_CLIENT, query)), ['10.0.0.1']);
    assert.deepEqual(addresses(await tcpQuery(port, UNION_CLIENT, query)), ['10.0.0.1', '10.0.0.2']);
    const ecs = await tcpQuery(port, UNION_CLIENT, encodeQuery(`db.prod.svc.${Z}`, 'A', { edns: 1232, ednsOptions: [ecsOption(WEST_CLIENT, 32)] }));
    assert.equal(ecs.rcode, 'NXDOMAIN');
  });

  it('answers dig, by its source address and by its client subnet', async () => {
    const dig = async (...args: string[]) => (await run('dig', ['@127.0.0.1', '-p', String(port), '+time=2', '+tries=1', '+short', ...args])).stdout.trim();
    assert.equal(await dig('-b', EAST_CLIENT, `web.prod.svc.${Z}`, 'A'), '10.0.0.1');
    assert.equal(await dig('-b', UNION_CLIENT, '+subnet=127.0.0.3/32', `web.prod.svc.${Z}`, 'A'), '10.0.0.2');
  });

  // Last: changes the served view.
  it("follows deltas of a cluster's overlay, of the union under it, and of its cluster's sync", async () => {
    const none = { upsert: {}, remove: [] };
    feed.delta({ from: 1, to: 2, services: none, views: { west: { upsert: { 'prod/web': clusterSetIp('10.0.0.3') }, remove: ['prod/db'] } } });
    assert.deepEqual(addresses(await ask(WEST_CLIENT, 'web.prod.svc')), ['10.0.0.3']);
    assert.equal((await ask(WEST_CLIENT, '_http._tcp.web.prod.svc', 'SRV')).answers.length, 1);
    assert.deepEqual(addresses(await ask(WEST_CLIENT, 'pod-b.west.db.prod.svc')), ['10.1.0.2'], 'db back to the union');
    assert.deepEqual(addresses(await ask(EAST_CLIENT, 'web.prod.svc')), ['10.0.0.1'], 'east unchanged');

    feed.delta({ from: 2, to: 3, services: { upsert: { 'prod/web': clusterSetIp('10.0.0.9') }, remove: [] }, views: { west: { upsert: { 'prod/db': null }, remove: [] } } });
    assert.deepEqual(addresses(await ask(UNION_CLIENT, 'web.prod.svc')), ['10.0.0.9']);
    assert.deepEqual(addresses(await ask(WEST_CLIENT, 'web.prod.svc')), ['10.0.0.3'], 'the overlay still replaces the new union');
    assert.equal((await ask(WEST_CLIENT, 'db.prod.svc')).rcode, 'NXDOMAIN');

    feed.delta({ from: 3, to: 4, services: none, clusters: [{ id: 'east', synced: true }] });
    assert.deepEqual(addresses(await ask(WEST_CLIENT, 'web.prod.svc')), ['10.0.0.9'], 'west gone: its overlay too');
    assert.deepEqual(addresses(await ask(WEST_CLIENT, 'db.prod.svc')), ['10.1.0.1', '10.1.0.2']);
    assert.deepEqual(addresses(await ask(EAST_CLIENT, 'web.prod.svc')), ['10.0.0.1']);
  });
});

describe('frontend: --prefer-own-cluster over sockets', () => {
  const frontend = new Frontend(new MemoryFeed(testView()), {
    zones: [Z],
    listen: { host: '127.0.0.1', port: 0 },
    views: [
      { cluster: 'east', networks: ['127.0.0.2/32'] },
      { cluster: 'north', networks: [NORTH_CLIENT] },
    ],
    answers: { preferOwnCluster: true },
  });
  before(() => frontend.start());
  after(() => frontend.stop());
  const firsts = async (from: string, transport: 'udp' | 'tcp') => {
    const out: string[] = [];
    for (let i = 0; i < 4; i++) {
      const packet = encodeQuery(`db.prod.svc.${Z}`, 'A');
      const p = transport === 'udp' ? await udpQuery(frontend.address.port, from, packet) : await tcpQuery(frontend.address.port, from, packet);
      out.push(String((p.answers[0] as { data: string }).data));
    }
    return out;
  };

  it("answers a view's client with its own cluster's endpoint first, every time", async () => {
    assert.deepEqual(await firsts(EAST_CLIENT, 'udp'), ['10.1.0.1', '10.1.0.1', '10.1.0.1', '10.1.0.1']);
    assert.deepEqual(await firsts(EAST_CLIENT, 'tcp'), ['10.1.0.1', '10.1.0.1', '10.1.0.1', '10.1.0.1']);
  });

  it('rotates for clients of no view and of a cluster without endpoints of the service', async () => {
    for (const client of [OTHER_CLIENT, NORTH_CLIENT]) assert.deepEqual(new Set(await firsts(client, 'udp')), new Set(['10.1.0.1', '10.1.0.2']));
  });
});
