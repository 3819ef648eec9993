// End to end: stand-in API servers → the built `mcsdns serve` binary → DNS.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { StandInApiServer } from '../test/k8s/apiServer.js';
import { demoObjects } from '../scripts/demoObjects.js';
import { answerStrings, dig, eventually, freePort, queryTcp, queryUdp, rcode } from './support/dnsClient.js';

const main = join(process.cwd(), 'dist/bin/mcsdns.js');
const Z = 'clusterset.local';

interface Serve {
  child: ChildProcess;
  stderr: string[];
}

function startServe(args: string[]): Serve {
  const child = spawn(process.execPath, [main, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MCSDNS_LOG_LEVEL: 'info' } });
  const stderr: string[] = [];
  child.stderr!.setEncoding('utf8').on('data', (d: string) => stderr.push(d));
  return { child, stderr };
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

describe('mcsdns serve end to end', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mcsdns-e2e-'));
  const dataDir = join(dir, 'data');
  const clusters = ['east', 'west'];
  const servers = new Map<string, StandInApiServer>();
  let port = 0;
  let serve: Serve | undefined;
  const args = () => [
    '--dns-listen',
    `127.0.0.1:${port}`,
    '--data-dir',
    dataDir,
    ...clusters.flatMap((id) => ['--cluster', `${id}=${join(dir, `${id}.kubeconfig`)}@admin@${id}`]),
  ];
  const a = async (name: string, type: 'A' | 'AAAA' | 'SRV' = 'A') => {
    const p = await queryUdp(port, name, type);
    return { rcode: rcode(p), answers: answerStrings(p) };
  };

  before(async () => {
    for (const id of clusters) {
      const token = `token-${id}`;
      const s = await StandInApiServer.start({ tokens: [token] });
      for (const o of demoObjects(id)) s.upsert(o);
      s.writeKubeconfig(join(dir, `${id}.kubeconfig`), { token, context: `admin@${id}` });
      servers.set(id, s);
    }
    port = await freePort();
    serve = startServe(args());
    await eventually(() => a(`web.prod.svc.${Z}`), (r) => r.rcode === 'NOERROR' && r.answers.length === 1, 15000, 'serve to answer');
  });

  after(async () => {
    serve?.child.kill('SIGKILL');
    if (serve) await exited(serve.child);
    for (const s of servers.values()) await s.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers the sample services of both clusters, over UDP, TCP and with dig', async () => {
    // Wait for both clusters' first sync: endpoints of west are there.
    await eventually(() => a(`db.prod.svc.${Z}`), (r) => r.answers.length === 3, 10000, 'both clusters synced');
    assert.deepEqual(await a(`web.prod.svc.${Z}`), { rcode: 'NOERROR', answers: ['A 10.96.100.10'] });
    assert.deepEqual((await a(`api.prod.svc.${Z}`, 'AAAA')).answers, ['AAAA fd00:96::20']);
    assert.deepEqual((await a(`db.prod.svc.${Z}`)).answers, ['A 10.1.0.10', 'A 10.1.0.11', 'A 10.2.0.10']);
    assert.deepEqual((await a(`db-0.west.db.prod.svc.${Z}`)).answers, ['A 10.2.0.10']);
    assert.equal((await a(`db-2.east.db.prod.svc.${Z}`)).rcode, 'NXDOMAIN'); // not ready
    assert.equal((await a(`nope.prod.svc.${Z}`)).rcode, 'NXDOMAIN');
    const tcp = await queryTcp(port, `_postgres._tcp.db.prod.svc.${Z}`, 'SRV');
    assert.equal(tcp.answers?.length, 3);
    const out = await dig(port, [`WEB.Prod.svc.${Z}`, 'A', '+norecurse']);
    assert.match(out, /status: NOERROR/);
    assert.match(out, /flags: qr aa;/);
    assert.match(out, /WEB\.Prod\.svc\.clusterset\.local\.\s+5\s+IN\s+A\s+10\.96\.100\.10/);
  });

  it('reflects a created, a changed (endpoint not ready) and a deleted service', async () => {
    const east = servers.get('east')!;
    east.upsert({
      apiVersion: 'multicluster.x-k8s.io/v1beta1',
      kind: 'ServiceImport',
      metadata: { name: 'cache', namespace: 'prod' },
      spec: { type: 'ClusterSetIP', ips: ['10.96.100.30'], ports: [{ name: 'redis', protocol: 'TCP', port: 6379 }] },
    });
    await eventually(() => a(`cache.prod.svc.${Z}`), (r) => r.answers[0] === 'A 10.96.100.30', 5000, 'created service');

    // db-0 in east goes not ready, in both clusters' copy of the slice.
    for (const s of servers.values()) {
      const slice = structuredClone(s.get('EndpointSlice', 'prod', 'imported-db-east'));
      slice.endpoints[0].conditions.ready = false;
      s.upsert(slice);
    }
    await eventually(() => a(`db.prod.svc.${Z}`), (r) => r.answers.join() === 'A 10.1.0.11,A 10.2.0.10', 5000, 'endpoint not ready');
    assert.equal((await a(`db-0.east.db.prod.svc.${Z}`)).rcode, 'NXDOMAIN');

    east.delete('ServiceImport', 'prod', 'cache');
    await eventually(() => a(`cache.prod.svc.${Z}`), (r) => r.rcode === 'NXDOMAIN', 5000, 'deleted service');
  });

  it('drops objects deleted while the watch was down once history expired', async () => {
    const east = servers.get('east')!;
    await east.waitForWatches(1, 'ServiceImport', 5000);
    east.dropWatches();
    east.delete('ServiceImport', 'prod', 'api');
    east.expireHistory();
    await eventually(() => a(`api.prod.svc.${Z}`), (r) => r.rcode === 'NXDOMAIN', 15000, 'api to vanish after re-list');
    assert.deepEqual((await a(`web.prod.svc.${Z}`)).answers, ['A 10.96.100.10']);
  });

  it('answers the same after SIGKILL and a restart on the same data directory, with no duplicate events', async () => {
    const names = [`web.prod.svc.${Z}`, `db.prod.svc.${Z}`, `api.prod.svc.${Z}`, `db-1.east.db.prod.svc.${Z}`];
    const before = await Promise.all(names.map((n) => a(n)));
    serve!.child.kill('SIGKILL');
    await exited(serve!.child);

    const db = new Database(join(dataDir, 'events.db'), { readonly: true });
    const logBefore = db.prepare('SELECT seq, id FROM events ORDER BY seq').all() as { seq: number; id: string }[];
    db.close();
    assert.ok(logBefore.length > 0);

    serve = startServe(args());
    await eventually(() => Promise.all(names.map((n) => a(n))), (r) => JSON.stringify(r) === JSON.stringify(before), 15000, 'same answers after restart');

    const db2 = new Database(join(dataDir, 'events.db'), { readonly: true });
    const logAfter = db2.prepare('SELECT seq, id FROM events ORDER BY seq').all() as { seq: number; id: string }[];
    const dupes = db2.prepare('SELECT COUNT(*) - COUNT(DISTINCT id) AS n FROM events').get() as { n: number };
    db2.close();
    assert.equal(dupes.n, 0);
    // What was logged before the kill is untouched; nothing was appended again.
    assert.deepEqual(logAfter.slice(0, logBefore.length), logBefore);
    const oldIds = new Set(logBefore.map((e) => e.id));
    assert.ok(logAfter.slice(logBefore.length).every((e) => !oldIds.has(e.id)));

    const rm = new Database(join(dataDir, 'readmodel.db'), { readonly: true });
    const applied = rm.prepare('SELECT last_applied_seq AS s FROM meta').get() as { s: number };
    const imports = rm.prepare('SELECT COUNT(*) AS n FROM service_imports').get() as { n: number };
    rm.close();
    assert.equal(applied.s, logAfter[logAfter.length - 1]!.seq);
    assert.equal(imports.n, 4); // web and db, imported by both clusters; api was deleted
  });

  it('answers audit questions about its own history', () => {
    const audit = (...args: string[]) => {
      const r = spawnSync(process.execPath, [main, ...args, '--data-dir', dataDir], { encoding: 'utf8', timeout: 30000 });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout;
    };
    assert.match(audit('audit', 'resolve', `api.prod.svc.${Z}`, 'AAAA'), /status: NXDOMAIN/);
    const history = JSON.parse(audit('audit', 'history', 'prod/api', '--json')) as { seq: number; event: string }[];
    assert.match(history[0]!.event, /upsert ServiceImport prod\/api/);
    const then = audit('audit', 'resolve', `api.prod.svc.${Z}`, 'AAAA', '--at', String(history[0]!.seq));
    assert.match(then, /status: NOERROR/);
    assert.match(then, /AAAA\s+fd00:96::20/);
    assert.ok(history.some((h) => /sync-end ServiceImport|delete ServiceImport prod\/api/.test(h.event)), 'the removal is in the history');
  });

  it('refuses a second serve on the same data directory, and a port in use, with one line each', async () => {
    const second = startServe(args());
    assert.equal(await exited(second.child), 1);
    assert.match(second.stderr.join(''), /^mcsdns: data directory .* is in use by process \d+\n$/);

    const other = startServe(args().map((v) => (v === dataDir ? join(dir, 'other') : v)));
    assert.equal(await exited(other.child), 1);
    assert.match(other.stderr.join('').split('\n').filter((l) => l.startsWith('mcsdns:')).join('\n'), new RegExp(`^mcsdns: .*127\\.0\\.0\\.1:${port}.*in use`));
  });
});
