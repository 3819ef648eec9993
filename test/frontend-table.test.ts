// The answer table's own parts: the name index against a Map, the arena's
// compaction against a table compiled afresh, a table compiled straight from
// snapshot bytes against one compiled from the view, and the hand-written
// parsers (names, IPv4, IPv6) against what they replace.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { answersBuilder, applyDelta, compileAnswers, type AnswerTable } from '../services/frontend/answers.js';
import { writeAddress } from '../services/frontend/addressBytes.js';
import { NameArena } from '../services/frontend/nameArena.js';
import { NameIndex } from '../services/frontend/nameIndex.js';
import { isValidName } from '../services/frontend/nameWriter.js';
import { respond, type ViewRouting } from '../services/frontend/respond.js';
import { nameKey } from '../services/frontend/wire.js';
import { applyDelta as applyViewDelta, type DnsView, type ServiceRecords, type ViewDelta } from '../shared/view.js';
import { readViewInto, writeView } from '../shared/viewSnapshot.js';
import { Z, encodeQuery } from './frontend-messages.js';
import { seededRandom } from './support/random.js';

// A name the index can hold: zone 0 (the root, ROOT_ZONE), no RRsets, its key (rrset.ts).
const ROOT_ZONE = [Buffer.alloc(0)];
function placeName(arena: NameArena, key: string): number {
  const address = arena.reserve(3 + key.length);
  const chunk = arena.chunkOf(address);
  const at = arena.offsetOf(address);
  chunk[at] = 0;
  chunk[at + 1] = 0;
  chunk[at + 2] = key.length;
  chunk.write(key, at + 3, 'latin1');
  return address;
}

describe('frontend table: the name index', () => {
  it('finds, replaces and removes names as a Map would, in any letter case', () => {
    const random = seededRandom(7);
    const arena = new NameArena();
    const index = new NameIndex(arena, ROOT_ZONE);
    const model = new Map<string, number>();
    const keys = Array.from({ length: 300 }, (_, i) => nameKey(`svc-${i % 150}.ns-${i % 7}.svc`, nameKey(Z)));
    for (let step = 0; step < 5000; step++) {
      const key = keys[Math.floor(random() * keys.length)]!;
      if (random() < 0.6) {
        const address = placeName(arena, key);
        assert.equal(index.add(address), model.get(key) ?? -1, `add ${step}`);
        model.set(key, address);
      } else if (model.has(key)) {
        index.remove(model.get(key)!);
        model.delete(key);
      }
      const probe = keys[Math.floor(random() * keys.length)]!;
      const asked = Buffer.from(random() < 0.5 ? probe : probe.toUpperCase(), 'latin1');
      assert.equal(index.find(asked, 0, asked.length), model.get(probe) ?? -1, `find ${step}`);
      assert.equal(index.size, model.size);
    }
    assert.deepEqual([...index].sort(), [...model.values()].sort());
  });

  it('leaves the index alone when asked to remove a name it no longer holds', () => {
    const arena = new NameArena();
    const index = new NameIndex(arena, ROOT_ZONE);
    const key = nameKey(`web.prod.svc.${Z}`);
    const first = placeName(arena, key);
    index.add(first);
    const second = placeName(arena, key);
    assert.equal(index.add(second), first);
    index.remove(first);
    assert.equal(index.find(Buffer.from(key, 'latin1'), 0, key.length), second);
  });
});

describe('frontend table: the arena across deltas', () => {
  const CLIENTS = ['10.0.0.1', '10.9.0.1']; // east's view, the union
  const routing = (): ViewRouting => {
    const east = new net.BlockList();
    east.addSubnet('10.0.0.0', 16, 'ipv4');
    return { anyView: east, views: [{ view: 0, networks: east }], trustEcs: undefined };
  };
  const service = (svc: string, round: number): ServiceRecords => {
    const ips = [`10.1.${round}.1`, `10.2.${round}.2`, `fd00::${round}:3`];
    const names: ServiceRecords['names'] = { [`${svc}.prod.svc`]: ips.map((address) => ({ type: address.includes(':') ? 'AAAA' : 'A', address })) };
    ips.forEach((address, i) => (names[`pod-${i}.${POD_CLUSTERS[i]}.${svc}.prod.svc`] = [{ type: address.includes(':') ? 'AAAA' : 'A', address }]));
    names[`_http._tcp.${svc}.prod.svc`] = ips.map((_, i) => ({ type: 'SRV', priority: 0, weight: 33, port: 80, target: `pod-${i}.${POD_CLUSTERS[i]}.${svc}.prod.svc` }));
    return { names };
  };
  const POD_CLUSTERS = ['west', 'east', 'north']; // east's own endpoint comes first in its view (--prefer-own-cluster)
  const SERVICES = Array.from({ length: 300 }, (_, i) => `s${i}`);
  const ASKED = ['s0', 's1', 's150', 's299'].flatMap((svc) => [`${svc}.prod.svc`, `pod-1.east.${svc}.prod.svc`, `_http._tcp.${svc}.prod.svc`, `west.${svc}.prod.svc`, `nope.${svc}.prod.svc`]);
  const answers = (table: AnswerTable): string[] =>
    CLIENTS.flatMap((client) => ASKED.flatMap((name) => ['A', 'AAAA', 'SRV'].map((type) => respond(encodeQuery(`${name}.${Z}`, type), table, 'tcp', undefined, client, routing())!.toString('hex'))));

  const startView = (): DnsView => ({
    version: 1,
    clusters: [{ id: 'east', synced: true }],
    namespaces: ['prod'],
    services: Object.fromEntries(SERVICES.map((svc) => [`prod/${svc}`, service(svc, 0)])),
    views: { east: { 'prod/s1': service('s1', 99), 'prod/s150': null } },
  });

  it('compiles from the bytes of a snapshot, as they are read, the answers it compiles from the view', () => {
    const view = startView();
    for (const options of [{ rotate: false }, { rotate: false, preferOwnCluster: true }, { rotate: false, maxEndpoints: 2 }]) {
      let table: AnswerTable | undefined;
      readViewInto(writeView(view), answersBuilder([Z], 5, options, ['east'], (compiled) => (table = compiled)));
      assert.deepEqual(answers(table!), answers(compileAnswers(view, [Z], 5, options, ['east'])), JSON.stringify(options));
    }
  });

  it('slides what is still in use together once most of the arena is garbage, and answers as before', () => {
    const view = startView();
    const options = { rotate: false, preferOwnCluster: true };
    const table = compileAnswers(structuredClone(view), [Z], 5, options, ['east']);
    const chunks = [table.arena.chunks.length];
    for (let round = 1; round <= 12; round++) {
      const delta: ViewDelta = { from: view.version, to: view.version + 1, services: { upsert: Object.fromEntries(SERVICES.map((svc) => [`prod/${svc}`, service(svc, round)])), remove: [] } };
      assert.ok(applyDelta(table, structuredClone(delta)));
      assert.ok(applyViewDelta(view, delta));
      chunks.push(table.arena.chunks.length);
      assert.deepEqual(answers(table), answers(compileAnswers(view, [Z], 5, options, ['east'])), `after round ${round}`);
    }
    assert.ok(chunks.some((count, round) => count < chunks[round - 1]!), `compacted at least once: ${chunks.join(' ')} chunks`);
    assert.ok(Math.max(...chunks) <= 3, `${chunks.join(' ')} chunks`);
  });
});

describe('frontend table: parsers written by hand', () => {
  it('accepts the names /^[a-z0-9_-]{1,63}(?:\\.[a-z0-9_-]{1,63})*$/ accepts', () => {
    const pattern = /^[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})*$/;
    const random = seededRandom(3);
    const alphabet = 'az09-_.Z \n';
    const names = ['', '.', 'a', 'a.', '.a', 'a..b', 'web.prod.svc', 'x'.repeat(63), 'x'.repeat(64), `${'x'.repeat(63)}.y`, `y.${'x'.repeat(64)}`];
    for (let i = 0; i < 20000; i++) names.push(Array.from({ length: Math.floor(random() * 8) }, () => alphabet[Math.floor(random() * alphabet.length)]).join(''));
    for (const name of names) assert.equal(isValidName(name), pattern.test(name), JSON.stringify(name));
  });

  it('reads IPv4 addresses as node:net does, and writes their octets', () => {
    const random = seededRandom(5);
    const octet = () => String(Math.floor(random() * 300)).padStart(random() < 0.1 ? 2 : 0, '0');
    const addresses = ['0.0.0.0', '255.255.255.255', '256.0.0.1', '01.2.3.4', '1.2.3', '1.2.3.4.', '1.2.3.4 ', '1..2.3', 'a.b.c.d', '10.0.0.300', '1.2.3.4e'];
    for (let i = 0; i < 20000; i++) addresses.push(Array.from({ length: 3 + Math.floor(random() * 2) }, octet).join('.'));
    for (const address of addresses) {
      const octets = Buffer.alloc(4);
      const written = writeAddress(4, address, octets, 0);
      assert.equal(written === 4, net.isIPv4(address), address);
      if (written) assert.deepEqual([...octets], address.split('.').map(Number), address);
    }
  });

  it('writes the octets of IPv6 addresses in every form', () => {
    const cases: [string, string][] = [
      ['::', '00000000000000000000000000000000'],
      ['::1', '00000000000000000000000000000001'],
      ['1::', '00010000000000000000000000000000'],
      ['fd00::10', 'fd000000000000000000000000000010'],
      ['FD00::a:B', 'fd0000000000000000000000000a000b'],
      ['1:2:3:4:5:6:7:8', '00010002000300040005000600070008'],
      ['::2:3:4:5:6:7:8', '00000002000300040005000600070008'],
      ['1:2::7:8', '00010002000000000000000000070008'],
      ['::ffff:10.0.0.1', '00000000000000000000ffff0a000001'],
      ['1:2:3:4:5:6:1.2.3.4', '00010002000300040005000601020304'],
    ];
    for (const [address, hex] of cases) {
      const octets = Buffer.alloc(16);
      assert.equal(writeAddress(6, address, octets, 0), 16, address);
      assert.equal(octets.toString('hex'), hex, address);
    }
    for (const bad of ['1:2', 'fe80::1%eth0', '10.0.0.1', ':::', 'g::1']) assert.equal(writeAddress(6, bad, Buffer.alloc(16), 0), 0, bad);
  });
});

describe('frontend table: a service larger than a chunk of the arena', () => {
  it('answers at every one of its names, and at the names compiled after it', () => {
    const pods = 30_000; // some 2 MB of names
    const big: ServiceRecords = { names: { 'big.prod.svc': [{ type: 'A', address: '10.0.0.1' }] } };
    for (let i = 0; i < pods; i++) big.names[`pod-${i}.c1.big.prod.svc`] = [{ type: 'A', address: `10.${1 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}` }];
    const view: DnsView = { version: 1, clusters: [{ id: 'c1', synced: true }], namespaces: ['prod'], services: { 'prod/a': { names: { 'a.prod.svc': [{ type: 'A', address: '10.9.0.1' }] } }, 'prod/big': big, 'prod/z': { names: { 'z.prod.svc': [{ type: 'A', address: '10.9.0.2' }] } } } };
    const table = compileAnswers(view, [Z], 5);
    const address = (name: string): string => {
      const response = respond(encodeQuery(`${name}.${Z}`, 'A'), table, 'tcp')!;
      return [...response.subarray(response.length - 4)].join('.');
    };
    assert.equal(address('a.prod.svc'), '10.9.0.1');
    assert.equal(address('z.prod.svc'), '10.9.0.2');
    for (const i of [0, 1, pods / 2, pods - 1]) assert.equal(address(`pod-${i}.c1.big.prod.svc`), `10.${1 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, `pod-${i}`);
  });
});
