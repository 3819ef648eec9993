// Distributed mode end to end, every role its own process of the built
// binary: two stand-in clusters → two agents → NATS JetStream → aggregator →
// three frontends; compared with `mcsdns serve` on the same clusters.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { connect } from '@nats-io/transport-node';
import { Aggregator } from '../services/aggregator/aggregator.js';
import { JetStreamEventLog } from '../shared/jetstreamEventLog.js';
import { demoObjects } from '../scripts/demoObjects.js';
import { StandInApiServer } from './k8s/apiServer.js';
import { answerStrings, eventually, freePort, queryUdp, rcode } from './support/dnsClient.js';
import { McsdnsProcess } from './support/mcsdnsProcess.js';
import { NatsServer, natsServerMissing, samplePasswords, startSecuredNats } from './support/natsServer.js';

const Z = 'clusterset.local';
const passwords = samplePasswords;
const names: [string, 'A' | 'AAAA' | 'SRV'][] = [
  [`web.prod.svc.${Z}`, 'A'],
  [`api.prod.svc.${Z}`, 'AAAA'],
  [`api.prod.svc.${Z}`, 'A'],
  [`db.prod.svc.${Z}`, 'A'],
  [`_postgres._tcp.db.prod.svc.${Z}`, 'SRV'],
  [`db-0.west.db.prod.svc.${Z}`, 'A'],
  [`db-2.east.db.prod.svc.${Z}`, 'A'],
  [`nope.prod.svc.${Z}`, 'A'],
  [`prod.svc.${Z}`, 'A'],
];

async function answers(port: number, list = names): Promise<string[]> {
  return Promise.all(
    list.map(async ([n, t]) => {
      const p = await queryUdp(port, n, t);
      return `${n} ${t} ${rcode(p)} ${answerStrings(p).join(' ')}`;
    }),
  );
}

// A checksum of the read model's object and cluster tables.
function readModelChecksum(path: string): string {
  const db = new Database(path, { readonly: true });
  const hash = createHash('sha256');
  for (const table of ['service_imports', 'endpoint_slices', 'namespaces', 'clusters']) {
    const rows = db.prepare(`SELECT * FROM ${table} ORDER BY 1, 2, 3`).all() as Record<string, unknown>[];
    for (const r of rows) hash.update(JSON.stringify(r));
  }
  db.close();
  return hash.digest('hex');
}

describe('distributed mode over NATS JetStream', { skip: natsServerMissing() }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'mcsdns-dist-'));
  const clusters = ['east', 'west'];
  const standIns = new Map<string, StandInApiServer>();
  const procs: McsdnsProcess[] = [];
  let nats: NatsServer;
  let aggregator: McsdnsProcess;
  const frontendPorts: number[] = [];
  let servePort = 0;

  // Every process signs in as the user deploy/nats-permissions.conf gives its role.
  const start = (name: string, args: string[], user: string) => {
    const p = new McsdnsProcess(name, [...args, '--nats-user', user], { MCSDNS_NATS_PASSWORD: passwords[user]! });
    procs.push(p);
    return p;
  };
  const aggregatorArgs = () => ['aggregator', '--nats', nats.url, '--db', join(dir, 'readmodel.db'), '--expect-cluster', 'east', '--expect-cluster', 'west', '--snapshot-every', '500'];
  const startFrontend = async (name: string) => {
    const port = await freePort();
    const p = start(name, ['frontend', '--nats', nats.url, '--dns-listen', `127.0.0.1:${port}`, '--startup-timeout', '10s'], 'frontend');
    await p.waitForLine(/mcsdns frontend running/, 20000);
    return port;
  };

  before(async () => {
    nats = await startSecuredNats();
    for (const id of clusters) {
      const s = await StandInApiServer.start({ tokens: [`t-${id}`] });
      for (const o of demoObjects(id)) s.upsert(o);
      s.writeKubeconfig(join(dir, `${id}.kubeconfig`), { token: `t-${id}` });
      standIns.set(id, s);
    }
    aggregator = start('aggregator', aggregatorArgs(), 'aggregator');
    await aggregator.waitForLine(/mcsdns aggregator running/);
    for (const id of clusters) {
      start(`agent-${id}`, ['agent', '--cluster-id', id, '--kubeconfig', join(dir, `${id}.kubeconfig`), '--nats', nats.url], `agent-${id}`);
    }
    for (let i = 0; i < 3; i++) frontendPorts.push(await startFrontend(`frontend-${i}`));
    servePort = await freePort();
    const serve = new McsdnsProcess('serve', [
      'serve',
      '--dns-listen',
      `127.0.0.1:${servePort}`,
      '--data-dir',
      join(dir, 'serve-data'),
      ...clusters.flatMap((id) => ['--cluster', `${id}=${join(dir, `${id}.kubeconfig`)}`]),
    ]);
    procs.push(serve);
    await serve.waitForLine(/mcsdns serving/);
  });

  after(async () => {
    await Promise.all(procs.map((p) => p.kill('SIGKILL')));
    for (const s of standIns.values()) await s.stop();
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('every frontend answers exactly as serve does, and a change reaches all three', async () => {
    const expected = await eventually(() => answers(servePort), (a) => a.some((l) => l.includes('10.2.0.10')) && !a.some((l) => l.includes('SERVFAIL')), 20000, 'serve synced');
    for (const port of frontendPorts) {
      await eventually(() => answers(port), (a) => JSON.stringify(a) === JSON.stringify(expected), 20000, `frontend on ${port} equal to serve`);
    }
    standIns.get('west')!.upsert({
      apiVersion: 'multicluster.x-k8s.io/v1beta1',
      kind: 'ServiceImport',
      metadata: { name: 'cache', namespace: 'prod' },
      spec: { type: 'ClusterSetIP', ips: ['10.96.100.40'], ports: [] },
    });
    const q: [string, 'A'][] = [[`cache.prod.svc.${Z}`, 'A']];
    for (const port of [servePort, ...frontendPorts]) {
      await eventually(() => answers(port, q), (a) => a[0]!.endsWith('NOERROR A 10.96.100.40'), 10000, `change on ${port}`);
    }
  });

  it('survives an aggregator killed in the middle of 10,000 changes: its read model equals a replay from the start', async () => {
    const east = standIns.get('east')!;
    // 500 services changed 20 times each: 10,000 DNS-relevant changes.
    const burst = (async () => {
      for (let round = 0; round < 20; round++) {
        for (let i = 0; i < 500; i++) {
          east.upsert({
            apiVersion: 'multicluster.x-k8s.io/v1beta1',
            kind: 'ServiceImport',
            metadata: { name: `burst-${i}`, namespace: 'load' },
            spec: { type: 'ClusterSetIP', ips: [`10.200.${i % 250}.${round + 1}`], ports: [] },
          });
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    await aggregator.kill('SIGKILL');
    const rm = new Database(join(dir, 'readmodel.db'));
    const appliedAtKill = (rm.prepare('SELECT last_applied_seq AS s FROM meta').get() as { s: number }).s;
    rm.close();
    await burst;
    aggregator = start('aggregator-2', aggregatorArgs(), 'aggregator');
    await aggregator.waitForLine(/mcsdns aggregator running/);

    const last: [string, 'A'][] = [[`burst-499.load.svc.${Z}`, 'A'], [`burst-0.load.svc.${Z}`, 'A']];
    for (const port of frontendPorts) {
      await eventually(() => answers(port, last), (a) => a[0]!.endsWith('A 10.200.249.20') && a[1]!.endsWith('A 10.200.0.20'), 60000, `burst on ${port}`);
    }

    // Replay the whole log into a fresh read model with the same projection.
    const nc = await connect({ servers: nats.url, user: 'aggregator', pass: passwords.aggregator });
    const log = await JetStreamEventLog.open(nc, { manageStream: false });
    const end = await log.lastSeq();
    assert.ok(appliedAtKill < end - 1000, `killed in the middle (applied ${appliedAtKill} of ${end})`);
    const replayPath = join(dir, 'replay.db');
    const replay = Aggregator.open({ log, dbPath: replayPath, expectedClusters: clusters });
    await replay.start();
    assert.ok(await replay.waitForSeq(end, 60000), 'replay caught up');
    await replay.stop();
    await log.close();
    await nc.close();

    await eventually(async () => {
      const db = new Database(join(dir, 'readmodel.db'), { readonly: true });
      const applied = (db.prepare('SELECT last_applied_seq AS s FROM meta').get() as { s: number }).s;
      db.close();
      return applied;
    }, (s) => s >= end, 30000, 'live aggregator caught up');
    assert.equal(readModelChecksum(join(dir, 'readmodel.db')), readModelChecksum(replayPath));
  });

  it('a frontend started after thousands of changes loads the snapshot and answers like the others', async () => {
    const late = await startFrontend('frontend-late');
    const q: [string, 'A'][] = Array.from({ length: 20 }, (_, i): [string, 'A'] => [`burst-${i * 25}.load.svc.${Z}`, 'A']);
    const reference = await answers(frontendPorts[0]!, [...names, ...q]);
    await eventually(() => answers(late, [...names, ...q]), (a) => JSON.stringify(a) === JSON.stringify(reference), 20000, 'late frontend equal');
  });

  it('keeps answering while NATS is down, and converges after it returns', async () => {
    const before = await answers(frontendPorts[1]!);
    await nats.halt();
    for (let i = 0; i < 5; i++) {
      assert.deepEqual(await answers(frontendPorts[1]!), before);
      await new Promise((r) => setTimeout(r, 400));
    }
    standIns.get('east')!.upsert({
      apiVersion: 'multicluster.x-k8s.io/v1beta1',
      kind: 'ServiceImport',
      metadata: { name: 'during-outage', namespace: 'prod' },
      spec: { type: 'ClusterSetIP', ips: ['10.96.100.50'], ports: [] },
    });
    await nats.run();
    const q: [string, 'A'][] = [[`during-outage.prod.svc.${Z}`, 'A']];
    for (const port of frontendPorts) {
      await eventually(() => answers(port, q), (a) => a[0]!.endsWith('NOERROR A 10.96.100.50'), 40000, `converged on ${port}`);
    }
  });
});
