// Real clients against a running Frontend: what dig and kdig show of EDNS0
// (+bufsize, +noedns, BADVERS), truncation and the retry over TCP, ANY,
// SRV targets and round robin.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Frontend } from '../services/frontend/server.js';
import type { DnsView, ViewFeed, ViewRecord } from '../shared/view.js';
import { Z } from './frontend-messages.js';

const run = promisify(execFile);
const A = (address: string): ViewRecord => ({ type: 'A', address });

// A headless service with `count` endpoints and one named port.
function headless(service: string, count: number): Record<string, ViewRecord[]> {
  const pods = Array.from({ length: count }, (_, i) => `pod-${i}.c1.${service}.prod.svc`);
  const names: Record<string, ViewRecord[]> = {
    [`${service}.prod.svc`]: pods.map((_, i) => A(`10.9.0.${i + 1}`)),
    [`_http._tcp.${service}.prod.svc`]: pods.map((target) => ({ type: 'SRV', priority: 0, weight: 1, port: 80, target })),
  };
  pods.forEach((t, i) => (names[t] = [A(`10.9.0.${i + 1}`)]));
  return names;
}

// big: 60 A records (1007 octets with OPT) fit 1232 but not 512; 60 SRV
// records do not fit 1232. mid: 18 SRV records fit, not all their addresses.
function testView(): DnsView {
  return {
    version: 3,
    clusters: [{ id: 'c1', synced: true }],
    namespaces: ['prod'],
    services: {
      'prod/web': { names: { 'web.prod.svc': [A('10.0.0.10'), { type: 'AAAA', address: 'fd00::10' }, { type: 'SRV', priority: 0, weight: 100, port: 80, target: 'web.prod.svc' }] } },
      'prod/three': { names: { 'three.prod.svc': [A('10.3.0.1'), A('10.3.0.2'), A('10.3.0.3')] } },
      'prod/big': { names: headless('big', 60) },
      'prod/mid': { names: headless('mid', 18) },
    },
  };
}

const feed: ViewFeed = {
  subscribe(listener) {
    listener.snapshot(testView());
    return () => {};
  },
};

describe('frontend with dig and kdig', () => {
  const frontend = new Frontend(feed, { zones: [Z], listen: { host: '127.0.0.1', port: 0 } });
  let server: string[] = [];
  const dig = async (...args: string[]) => (await run('dig', [...server, '+time=2', '+tries=1', ...args])).stdout;
  const kdig = async (...args: string[]) => {
    const { stdout, stderr } = await run('kdig', [...server, '+time=2', '+retry=0', ...args]);
    return stdout + stderr;
  };

  before(async () => {
    await frontend.start();
    server = ['-p', String(frontend.address.port), '@127.0.0.1'];
  });
  after(() => frontend.stop());

  it('echoes EDNS with our 1232 and answers within the advertised size (dig +bufsize)', async () => {
    const fits = await dig(`big.prod.svc.${Z}`, 'A', '+bufsize=4096', '+ignore');
    assert.match(fits, /flags: qr aa rd;.*ANSWER: 60,/s);
    assert.match(fits, /EDNS: version: 0, flags:; udp: 1232/);
    assert.match(fits, /\(UDP\)/);
    const tooSmall = await dig(`big.prod.svc.${Z}`, 'A', '+bufsize=900', '+ignore');
    assert.match(tooSmall, /flags: qr aa tc rd;.*ANSWER: 0,.*ADDITIONAL: 1/s, 'TC, no partial RRset, OPT kept');
    assert.match(tooSmall, /EDNS: version: 0, flags:; udp: 1232/);
  });

  it('answers without OPT to a query without EDNS, truncating at 512 (dig +noedns)', async () => {
    const plain = await dig(`big.prod.svc.${Z}`, 'A', '+noedns', '+ignore');
    assert.match(plain, /flags: qr aa tc rd;.*ANSWER: 0,.*ADDITIONAL: 0/s);
    assert.doesNotMatch(plain, /OPT PSEUDOSECTION/);
  });

  it('lets dig and kdig retry a truncated answer over TCP and get it whole', async () => {
    const viaDig = await dig(`big.prod.svc.${Z}`, 'A', '+noedns');
    assert.match(viaDig, /Truncated, retrying in TCP mode/);
    assert.match(viaDig, /ANSWER: 60,/);
    assert.match(viaDig, /\(TCP\)/);
    const viaKdig = await kdig(`big.prod.svc.${Z}`, 'A', '+bufsize=512');
    assert.match(viaKdig, /truncated reply .*retrying over TCP/);
    assert.match(viaKdig, /ANSWER: 60;/);
  });

  it('answers BADVERS to EDNS version 1 (dig +edns=1, kdig +edns=1)', async () => {
    assert.match(await dig(`web.prod.svc.${Z}`, 'A', '+edns=1', '+noednsneg'), /status: BADVERS/);
    const viaKdig = await kdig(`web.prod.svc.${Z}`, 'A', '+edns=1');
    assert.match(viaKdig, /status: BADVERS/);
    assert.match(viaKdig, /Version: 0; flags: ; UDP size: 1232 B; ext-rcode: BADVERS/);
  });

  it('answers ANY with one RRset (RFC 8482)', async () => {
    const any = await kdig(`web.prod.svc.${Z}`, 'ANY');
    assert.match(any, /ANSWER: 1;/);
    assert.match(any, /^web\.prod\.svc\.clusterset\.local\.\s+5\s+IN\s+A\s+10\.0\.0\.10$/m);
    assert.match(await dig(Z, 'ANY'), /ANSWER: 1,.*IN\s+SOA\s+ns\.dns\.clusterset\.local\./s);
  });

  it('drops additional records of an SRV answer rather than setting TC, and truncates only when the SRV records do not fit', async () => {
    const mid = await dig(`_http._tcp.mid.prod.svc.${Z}`, 'SRV', '+bufsize=1232', '+ignore');
    assert.match(mid, /flags: qr aa rd;/);
    const [, answers, additional] = mid.match(/ANSWER: (\d+), AUTHORITY: 0, ADDITIONAL: (\d+)/) ?? [];
    assert.equal(answers, '18');
    assert.ok(Number(additional) > 1 && Number(additional) < 19, `${additional} additional with OPT`);
    assert.match(await dig(`_http._tcp.big.prod.svc.${Z}`, 'SRV', '+bufsize=4096', '+ignore'), /flags: qr aa tc rd;/);
    const whole = await kdig(`_http._tcp.big.prod.svc.${Z}`, 'SRV', '+tcp');
    assert.match(whole, /ANSWER: 60; AUTHORITY: 0; ADDITIONAL: 60/);
    assert.match(whole, /SRV\s+0 1 80 pod-\d+\.c1\.big\.prod\.svc\.clusterset\.local\./);
  });

  it('rotates the records of a name from one query to the next', async () => {
    const firsts = [];
    for (let i = 0; i < 3; i++) firsts.push((await dig(`three.prod.svc.${Z}`, 'A', '+short')).split('\n')[0]);
    assert.deepEqual([...firsts].sort(), ['10.3.0.1', '10.3.0.2', '10.3.0.3']);
  });

  it('refuses class CH (kdig -c CH)', async () => {
    assert.match(await kdig('-c', 'CH', `web.prod.svc.${Z}`, 'TXT'), /status: REFUSED/);
  });
});
