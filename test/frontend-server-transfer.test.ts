// Zone transfers through the Frontend's sockets: allowTransfer decides by the
// client's address (IPv4, IPv6, and IPv4 on a dual-stack socket); others and
// UDP get REFUSED. Clients: kdig, dig and dns-packet.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';
import dnsPacket from 'dns-packet';
import { Frontend } from '../services/frontend/server.js';
import type { DnsView, ViewFeed, ViewListener } from '../shared/view.js';
import { queryUdp, rcode } from './support/dnsClient.js';

const Z = 'clusterset.local';
const run = promisify(execFile);

class FixedFeed implements ViewFeed {
  constructor(private readonly view: DnsView) {}
  subscribe(listener: ViewListener): () => void {
    listener.snapshot(this.view);
    return () => undefined;
  }
}

const view: DnsView = {
  version: 7,
  clusters: [{ id: 'c1', synced: true }],
  namespaces: ['prod'],
  services: {
    'prod/web': { names: { 'web.prod.svc': [{ type: 'A', address: '10.0.0.10' }], '_http._tcp.web.prod.svc': [{ type: 'SRV', priority: 0, weight: 100, port: 80, target: 'web.prod.svc' }] } },
  },
};

// Its records on stdout; a refusal fails it with the reason on stderr.
async function kdigAxfr(host: string, port: number): Promise<string> {
  const { stdout, stderr } = await run('kdig', ['-p', String(port), `@${host}`, 'AXFR', Z, '+time=3', '+retry=0']).catch((err: { stdout?: string; stderr?: string }) => ({
    stdout: err.stdout ?? '',
    stderr: err.stderr ?? '',
  }));
  return stdout + stderr;
}

async function digAxfr(port: number): Promise<string> {
  const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(port), Z, 'AXFR', '+time=3', '+tries=1']);
  return stdout;
}

// The records of a successful transfer as "name TYPE data" lines.
const transferred = (output: string): string[] =>
  output
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith(';'))
    .map((l) => l.split(/\s+/))
    .map(([name, , , type, ...data]) => `${name} ${type} ${data.join(' ')}`);

// Length-prefixed frames over one TCP connection, until `count` replies came.
async function tcpExchange(port: number, queries: Buffer[], count: number): Promise<dnsPacket.Packet[]> {
  const socket = net.connect(port, '127.0.0.1');
  const replies: dnsPacket.Packet[] = [];
  try {
    return await new Promise((resolve, reject) => {
      let data = Buffer.alloc(0);
      const timer = setTimeout(() => reject(new Error(`${replies.length} of ${count} TCP replies`)), 3000);
      socket.on('connect', () => socket.write(Buffer.concat(queries.map((q) => Buffer.concat([Buffer.from([q.length >> 8, q.length & 0xff]), q])))));
      socket.on('error', reject);
      socket.on('data', (chunk) => {
        data = Buffer.concat([data, chunk]);
        while (data.length >= 2 && data.length >= 2 + data.readUInt16BE(0)) {
          replies.push(dnsPacket.decode(data.subarray(2, 2 + data.readUInt16BE(0))));
          data = data.subarray(2 + data.readUInt16BE(0));
        }
        if (replies.length >= count) {
          clearTimeout(timer);
          resolve(replies);
        }
      });
    });
  } finally {
    socket.destroy();
  }
}

const query = (name: string, type: dnsPacket.RecordType, id: number) => dnsPacket.encode({ type: 'query', id, questions: [{ name, type, class: 'IN' }] });

describe('frontend zone transfers', () => {
  const frontends: Frontend[] = [];
  const start = async (allowTransfer: string[] | undefined, host = '127.0.0.1'): Promise<number> => {
    const frontend = new Frontend(new FixedFeed(view), { zones: [Z], listen: { host, port: 0 }, ...(allowTransfer ? { allowTransfer } : {}) });
    frontends.push(frontend);
    await frontend.start();
    return frontend.address.port;
  };
  let allowedPort = 0;

  before(async () => {
    allowedPort = await start(['10.0.0.0/8', '127.0.0.1/32']);
  });
  after(() => Promise.all(frontends.map((f) => f.stop())));

  it('gives an allowed client the zone: kdig AXFR', async () => {
    const out = await kdigAxfr('127.0.0.1', allowedPort);
    const records = transferred(out);
    assert.deepEqual(records[0], `${Z}. SOA ns.dns.${Z}. hostmaster.${Z}. 7 7200 1800 86400 5`);
    assert.equal(records[records.length - 1], records[0], 'the SOA closes the transfer');
    assert.ok(records.includes(`web.prod.svc.${Z}. A 10.0.0.10`), out);
    assert.ok(records.includes(`_http._tcp.web.prod.svc.${Z}. SRV 0 100 80 web.prod.svc.${Z}.`), out);
  });

  it('gives an allowed client the zone: dig AXFR', async () => {
    const out = await digAxfr(allowedPort);
    assert.doesNotMatch(out, /Transfer failed/);
    assert.deepEqual(transferred(out), transferred(await kdigAxfr('127.0.0.1', allowedPort)));
  });

  it('refuses a client outside allowTransfer, and everyone without it', async () => {
    for (const port of [await start(['10.0.0.0/8', '::1/128']), await start(undefined)]) {
      assert.match(await kdigAxfr('127.0.0.1', port), /REFUSED/);
      assert.match(await digAxfr(port), /Transfer failed/);
      const [reply] = await tcpExchange(port, [query(Z, 'AXFR', 3)], 1);
      assert.equal(rcode(reply!), 'REFUSED');
    }
  });

  it('refuses a transfer over UDP, even from an allowed client', async () => {
    assert.equal(rcode(await queryUdp(allowedPort, Z, 'AXFR')), 'REFUSED');
    assert.equal(rcode(await queryUdp(allowedPort, Z, 'IXFR')), 'REFUSED');
  });

  it('answers queries pipelined after a transfer on the same connection', async () => {
    const replies = await tcpExchange(allowedPort, [query(Z, 'AXFR', 1), query(`web.prod.svc.${Z}`, 'A', 2)], 2);
    assert.deepEqual(replies.map((r) => [r.id, rcode(r)]), [[1, 'NOERROR'], [2, 'NOERROR']]);
    assert.equal(replies[0]!.answers?.[0]?.type, 'SOA');
    assert.deepEqual(replies[1]!.answers?.map((a) => ('data' in a ? a.data : undefined)), ['10.0.0.10']);
  });

  it('decides IPv6 clients by IPv6 ranges, and IPv4 clients of a dual-stack socket by IPv4 ranges', async () => {
    const v6 = await start(['::1/128'], '::1');
    assert.match(await kdigAxfr('::1', v6), new RegExp(`web\\.prod\\.svc\\.${Z}\\.\\s+5\\s+IN\\s+A\\s+10\\.0\\.0\\.10`));
    assert.match(await kdigAxfr('::1', await start(['fd00::/8', '127.0.0.1'], '::1')), /REFUSED/);
    const dualStack = await start(['127.0.0.0/8'], '::');
    assert.match(await kdigAxfr('127.0.0.1', dualStack), /web\.prod\.svc/);
  });

  it('rejects what is not an address or CIDR', () => {
    for (const bad of ['10.0.0.0/33', '10.0.0.0/', 'example.org', '::1/129', '10.0.0.0/8/8']) {
      assert.throws(() => new Frontend(new FixedFeed(view), { zones: [Z], listen: { host: '127.0.0.1', port: 0 }, allowTransfer: [bad] }), /allowTransfer/, bad);
    }
  });
});
