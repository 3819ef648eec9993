// `mcsdns frontend --workers N`: N processes answer from one port, each
// following the view over NATS; /metrics sums them; a worker that dies is
// replaced; a bad N is one line and exit 2.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { NatsConnection } from '@nats-io/transport-node';
import { silentLogger } from '../shared/logger.js';
import { connectNats } from '../shared/nats.js';
import { NatsViewPublisher } from '../shared/viewDistribution.js';
import type { DnsView, ViewFeed } from '../shared/view.js';
import { answerStrings, queryTcp, queryUdp } from './support/dnsClient.js';
import { McsdnsProcess, mcsdnsMain } from './support/mcsdnsProcess.js';
import { NatsServer, natsServerMissing } from './support/natsServer.js';
import { sampleValue } from './metrics-samples.js';

const Z = 'clusterset.local';
const NAME = `web.prod.svc.${Z}`;

const view: DnsView = {
  version: 3,
  clusters: [{ id: 'east', synced: true }],
  namespaces: ['prod'],
  services: { 'prod/web': { names: { 'web.prod.svc': [{ type: 'A', address: '10.96.0.7' }] } } },
};
const fixedFeed: ViewFeed = {
  subscribe: (listener) => {
    listener.snapshot(view);
    return () => {};
  },
};

const childPids = (pid: number): number[] =>
  readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
    .trim()
    .split(/\s+/)
    .filter((p) => p !== '')
    .map(Number);

async function until<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const portOf = (line: string, field: string): number => (JSON.parse(line) as Record<string, { port: number }>)[field]!.port;

describe('mcsdns frontend --workers', { skip: natsServerMissing() }, () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  let publisher: NatsViewPublisher;
  let frontend: McsdnsProcess;
  let dnsPort: number;
  let httpPort: number;

  before(async () => {
    nats = await NatsServer.start();
    nc = await connectNats({ servers: [nats.url] }, silentLogger);
    publisher = await NatsViewPublisher.start(nc, fixedFeed, {}, silentLogger);
    frontend = new McsdnsProcess('frontend', ['frontend', '--nats', nats.url, '--zone', Z, '--dns-listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0', '--workers', '2']);
    dnsPort = portOf(await frontend.waitForLine(/workers running/, 30_000), 'dns');
    httpPort = portOf(await frontend.waitForLine(/HTTP endpoint listening/), 'address');
  });

  after(async () => {
    await frontend?.kill();
    await publisher?.stop();
    await nc?.close();
    await nats?.stop();
  });

  it('runs two worker processes that answer UDP and TCP on one port, counted together in /metrics', async () => {
    assert.equal(childPids(frontend.pid!).length, 2);
    for (let i = 0; i < 20; i++) assert.deepEqual(answerStrings(await queryUdp(dnsPort, NAME, 'A')), ['A 10.96.0.7']);
    assert.deepEqual(answerStrings(await queryTcp(dnsPort, NAME, 'A')), ['A 10.96.0.7']);
    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    assert.equal(sampleValue(metrics, 'mcsdns_frontend_queries_total', { type: 'A', rcode: 'NOERROR' }), 21);
    assert.equal(sampleValue(metrics, 'mcsdns_frontend_snapshot_version', {}), 3, 'the version, not a sum over workers');
    const ready = await until('both workers ready', async () => ((await fetch(`http://127.0.0.1:${httpPort}/readyz`)).ok ? true : undefined));
    assert.equal(ready, true);
  });

  it('replaces a worker that dies, and goes on answering', async () => {
    const [killed, kept] = childPids(frontend.pid!);
    process.kill(killed!, 'SIGKILL');
    await frontend.waitForLine(/frontend worker died/);
    const replacement = await until('a new worker', () => childPids(frontend.pid!).find((p) => p !== killed && p !== kept));
    await until('the new worker listening', () => (frontend.lines.filter((l) => /DNS frontend listening/.test(l)).length >= 3 ? true : undefined));
    assert.deepEqual(childPids(frontend.pid!).sort(), [kept!, replacement].sort());
    for (let i = 0; i < 20; i++) assert.deepEqual(answerStrings(await queryUdp(dnsPort, NAME, 'A')), ['A 10.96.0.7']);
  });

  it('stops every worker on SIGTERM', async () => {
    const workers = childPids(frontend.pid!);
    assert.equal(await frontend.kill('SIGTERM'), 0);
    for (const pid of workers) assert.throws(() => process.kill(pid, 0), /ESRCH/);
  });
});

describe('mcsdns frontend --workers with a bad count', () => {
  for (const bad of ['0', '65']) {
    it(`--workers ${bad}: one line on stderr, exit 2`, () => {
      const run = spawnSync(process.execPath, [mcsdnsMain, 'frontend', '--nats', 'nats://127.0.0.1:1', '--workers', bad], { encoding: 'utf8' });
      assert.equal(run.status, 2);
      assert.match(run.stderr, /^mcsdns: --workers: expected a whole number from 1 to 64/);
      assert.equal(run.stderr.trim().split('\n').length, 1);
    });
  }
});
