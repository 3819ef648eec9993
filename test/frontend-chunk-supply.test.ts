// The arena's chunks touched first by a helper thread (chunkSupply.ts): they
// arrive, have the arena's size and can be written; an arena that takes them
// compiles the answers one without them does; once stopped, the supply gives
// none, and the arena allocates its own.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { readViewInto, writeView } from '../shared/viewSnapshot.js';
import { answersBuilder, compileAnswers, type AnswerTable } from '../services/frontend/answers.js';
import { ChunkSupply } from '../services/frontend/chunkSupply.js';
import { CHUNK_SIZE, NameArena } from '../services/frontend/nameArena.js';
import { respond } from '../services/frontend/respond.js';
import type { DnsView, ServiceRecords } from '../shared/view.js';
import { Z, encodeQuery } from './frontend-messages.js';

// The next chunk, once the helper has made one.
async function taken(supply: ChunkSupply): Promise<Buffer> {
  for (let tries = 0; tries < 500; tries++) {
    const chunk = supply.take();
    if (chunk) return chunk;
    await sleep(10);
  }
  throw new Error('the helper made no chunk in 5 s');
}

function headless(name: string, pods: number): ServiceRecords {
  const names: ServiceRecords['names'] = {};
  const srv: ServiceRecords['names'][string] = [];
  for (let i = 0; i < pods; i++) {
    const pod = `pod-${i}.east.${name}.prod.svc`;
    names[pod] = [{ type: 'A', address: `10.1.${i >> 8}.${i & 255}` }];
    srv.push({ type: 'SRV', priority: 0, weight: 1, port: 80, target: pod });
  }
  names[`${name}.prod.svc`] = [...Object.values(names).flat(), ...srv];
  names[`_http._tcp.${name}.prod.svc`] = srv;
  return { names };
}

// Enough names for several chunks of the arena.
const view: DnsView = {
  version: 1,
  clusters: [{ id: 'east', synced: true }],
  namespaces: ['prod'],
  services: Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`prod/s${i}`, headless(`s${i}`, 100)])),
};

const answers = (table: AnswerTable): string[] =>
  ['s0', 's199', 's399'].flatMap((svc) => [`${svc}.prod.svc`, `_http._tcp.${svc}.prod.svc`, `pod-42.east.${svc}.prod.svc`].flatMap((name) => ['A', 'SRV'].map((type) => respond(encodeQuery(`${name}.${Z}`, type), table, 'tcp')!.toString('hex'))));

describe('frontend: arena chunks a helper thread touched first', () => {
  it('hands out chunks of the arena size, each its own memory', async () => {
    const supply = new ChunkSupply(CHUNK_SIZE);
    try {
      const [a, b] = [await taken(supply), await taken(supply)];
      assert.equal(a.length, CHUNK_SIZE);
      assert.equal(b.length, CHUNK_SIZE);
      a.fill(1);
      b.fill(2);
      assert.equal(a[CHUNK_SIZE - 1], 1);
      assert.equal(b[0], 2);
    } finally {
      supply.stop();
    }
  });

  it('an arena fed by it answers as one that allocates its own', async () => {
    const supply = new ChunkSupply(CHUNK_SIZE);
    try {
      await taken(supply); // the helper runs: the others are on their way
      await sleep(100);
      const arena = new NameArena(supply.take);
      let table: AnswerTable | undefined;
      readViewInto(writeView(view), answersBuilder([Z], 5, { rotate: false }, [], (compiled) => (table = compiled), arena));
      const chunks = new Set(table!.arena.chunks);
      assert.ok(chunks.size > 2, `${chunks.size} chunks`);
      assert.ok([...chunks].some((chunk) => chunk.buffer instanceof SharedArrayBuffer), 'some chunks came from the helper');
      assert.deepEqual(answers(table!), answers(compileAnswers(view, [Z], 5, { rotate: false })));
    } finally {
      supply.stop();
    }
  });

  it('gives none once stopped', async () => {
    const supply = new ChunkSupply(CHUNK_SIZE);
    await taken(supply);
    supply.stop();
    await sleep(50);
    assert.equal(supply.take(), undefined);
    const arena = new NameArena(supply.take);
    assert.equal(arena.chunkOf(arena.reserve(100)).buffer instanceof SharedArrayBuffer, false);
  });
});
