// The frontend's metrics and readiness: queries over UDP and TCP counted by
// type and rcode, the served version, and the DNS programming latency in an
// aggregator → frontend pipeline in one process.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { join } from 'node:path';
import dnsPacket from 'dns-packet';
import { aggregatorMetrics, createRegistry, frontendMetrics } from '../shared/metrics.js';
import { SqliteEventLog } from '../shared/sqliteEventLog.js';
import type { DnsView, ViewDelta, ViewFeed, ViewListener } from '../shared/view.js';
import { Aggregator } from '../services/aggregator/aggregator.js';
import { Frontend } from '../services/frontend/server.js';
import { fullSync, item, serviceImport, tempDir } from './aggregator-events.js';
import { sampleValue } from './metrics-samples.js';
import { answerStrings, queryTcp, queryUdp, rcode } from './support/dnsClient.js';

const Z = 'clusterset.local';
const HOST = '127.0.0.1';

class MemoryFeed implements ViewFeed {
  private readonly listeners = new Set<ViewListener>();
  constructor(private view?: DnsView) {}
  subscribe(listener: ViewListener): () => void {
    this.listeners.add(listener);
    if (this.view) listener.snapshot(this.view);
    return () => this.listeners.delete(listener);
  }
  snapshot(view: DnsView): void {
    this.view = view;
    for (const l of this.listeners) l.snapshot(view);
  }
  delta(delta: ViewDelta): void {
    for (const l of this.listeners) l.delta(delta);
  }
}

const view = (version: number, synced = true): DnsView => ({
  version,
  clusters: [{ id: 'east', synced }],
  namespaces: ['prod'],
  services: { 'prod/web': { names: { 'web.prod.svc': [{ type: 'A', address: '10.0.0.10' }] } } },
});

// Sends a raw datagram and waits for the reply.
async function udpRaw(port: number, packet: Buffer): Promise<Buffer> {
  const socket = dgram.createSocket('udp4');
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no UDP reply')), 2000);
      socket.once('message', (msg) => {
        clearTimeout(timer);
        resolve(msg);
      });
      socket.send(packet, port, HOST);
    });
  } finally {
    socket.close();
  }
}

describe('frontend metrics', () => {
  const registry = createRegistry();
  const feed = new MemoryFeed(view(4));
  const frontend = new Frontend(feed, { zones: [Z], listen: { host: HOST, port: 0 }, metrics: frontendMetrics(registry) });
  const queries = async (labels: Record<string, string>) => sampleValue(await registry.metrics(), 'mcsdns_frontend_queries_total', labels);

  before(() => frontend.start());
  after(() => frontend.stop());

  it('counts answered queries by type and rcode, over UDP and TCP', async () => {
    const port = frontend.address.port;
    await queryUdp(port, `web.prod.svc.${Z}`, 'A');
    await queryTcp(port, `web.prod.svc.${Z}`, 'A');
    await queryUdp(port, `web.prod.svc.${Z}`, 'AAAA'); // NODATA is NOERROR
    await queryUdp(port, `nope.prod.svc.${Z}`, 'A');
    await queryUdp(port, `_http._tcp.nope.prod.svc.${Z}`, 'SRV');
    await queryUdp(port, `dns-version.${Z}`, 'TXT');
    await queryUdp(port, 'example.com', 'MX');
    const twoQuestions = dnsPacket.encode({
      type: 'query',
      id: 1,
      questions: [
        { type: 'A', name: `web.prod.svc.${Z}`, class: 'IN' },
        { type: 'A', name: `web.prod.svc.${Z}`, class: 'IN' },
      ],
    });
    assert.equal(rcode(dnsPacket.decode(await udpRaw(port, twoQuestions))), 'FORMERR');
    const ednsVersion1 = dnsPacket.encode({
      type: 'query',
      id: 2,
      questions: [{ type: 'A', name: `web.prod.svc.${Z}`, class: 'IN' }],
      additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232, ednsVersion: 1 } as unknown as dnsPacket.Answer],
    });
    await udpRaw(port, ednsVersion1);

    assert.equal(await queries({ type: 'A', rcode: 'NOERROR' }), 2);
    assert.equal(await queries({ type: 'AAAA', rcode: 'NOERROR' }), 1);
    assert.equal(await queries({ type: 'A', rcode: 'NXDOMAIN' }), 1);
    assert.equal(await queries({ type: 'SRV', rcode: 'NXDOMAIN' }), 1);
    assert.equal(await queries({ type: 'TXT', rcode: 'NOERROR' }), 1);
    assert.equal(await queries({ type: 'other', rcode: 'REFUSED' }), 1);
    assert.equal(await queries({ type: 'unparsed', rcode: 'FORMERR' }), 1);
    assert.equal(await queries({ type: 'A', rcode: 'BADVERS' }), 1);
  });

  it('exports the served version and becomes ready with a synced view', async () => {
    assert.deepEqual(frontend.readiness(), { ok: true });
    feed.snapshot(view(7, false));
    assert.equal(sampleValue(await registry.metrics(), 'mcsdns_frontend_snapshot_version'), 7);
    assert.deepEqual(frontend.readiness(), { ok: false, reason: 'the view has clusters that have not finished their first sync' });
    feed.delta({ from: 7, to: 9, clusters: [{ id: 'east', synced: true }], services: { upsert: {}, remove: [] } });
    assert.equal(sampleValue(await registry.metrics(), 'mcsdns_frontend_snapshot_version'), 9);
    assert.deepEqual(frontend.readiness(), { ok: true });
  });

  it('is not ready before its first snapshot', async () => {
    const waiting = new Frontend(new MemoryFeed(), { zones: [Z], listen: { host: HOST, port: 0 }, startupTimeoutMs: 10 });
    await waiting.start();
    try {
      assert.deepEqual(waiting.readiness(), { ok: false, reason: 'no view snapshot yet' });
    } finally {
      await waiting.stop();
    }
  });
});

describe('DNS programming latency, aggregator → frontend in one process', () => {
  const temp = tempDir();
  const registry = createRegistry();
  const log = SqliteEventLog.open(join(temp.dir, 'events.db'));
  const aggregator = Aggregator.open({ log, dbPath: join(temp.dir, 'readmodel.db'), expectedClusters: ['east'], metrics: aggregatorMetrics(registry) });
  const frontend = new Frontend(aggregator, { zones: [Z], listen: { host: HOST, port: 0 }, metrics: frontendMetrics(registry) });
  const histogram = async (suffix: string, labels: Record<string, string> = {}) =>
    sampleValue(await registry.metrics(), `mcsdns_frontend_programming_latency_seconds_${suffix}`, labels);

  before(async () => {
    await aggregator.start();
    await frontend.start();
  });
  after(async () => {
    await frontend.stop();
    await aggregator.stop();
    await log.close();
    temp.remove();
  });

  it('observes, for every applied event, the time from the agent seeing it to the frontend answering it', async () => {
    // Seen by the agent 300 ms ago: every observation is at least that.
    const seen = new Date(Date.now() - 300).toISOString();
    const events = [...fullSync('east', 1), serviceImport('east', 'prod', 'web', { ips: ['10.0.0.1'] })].map((e) => ({ ...e, observedAt: seen }));
    const results = await log.append(events.map(item));
    assert.ok(await aggregator.waitForSeq(results.at(-1)!.seq, 5000));

    const answer = await queryUdp(frontend.address.port, `web.prod.svc.${Z}`, 'A');
    assert.deepEqual(answerStrings(answer), ['A 10.0.0.1']);
    assert.equal(await histogram('count'), events.length);
    assert.equal(await histogram('bucket', { le: '0.25' }), 0, 'none faster than the 300 ms since the observation');
    const sum = (await histogram('sum'))!;
    assert.ok(sum >= 0.3 * events.length && sum < 10 * events.length, `sum ${sum}`);
    assert.equal(sampleValue(await registry.metrics(), 'mcsdns_frontend_snapshot_version'), results.at(-1)!.seq);
  });
});
