// `mcsdns serve --corefile` with a plugin user's Corefile: zones, kubeconfig,
// fallthrough to the Corefile's forward upstream; flags win over the
// Corefile; --max-endpoints and round robin on a headless service;
// checkpoints written by the built worker thread.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import dnsPacket from 'dns-packet';
import { demoObjects } from '../scripts/demoObjects.js';
import { StandInApiServer } from './k8s/apiServer.js';
import { answerStrings, dig, eventually, freePort, queryUdp, rcode } from './support/dnsClient.js';
import { McsdnsProcess } from './support/mcsdnsProcess.js';

// An upstream that knows one name inside the zone and one outside it.
function startUpstream(): Promise<{ port: number; socket: Socket }> {
  const socket = createSocket('udp4');
  socket.on('message', (msg, rinfo) => {
    const q = dnsPacket.decode(msg);
    const name = q.questions?.[0]?.name ?? '';
    const known: Record<string, string> = { 'legacy.prod.svc.clusterset.local': '192.0.2.7', 'www.example.org': '192.0.2.80' };
    const address = known[name.toLowerCase()];
    const reply = dnsPacket.encode({
      type: 'response',
      id: q.id,
      flags: address ? 0 : 3, // NXDOMAIN
      questions: q.questions ?? [],
      answers: address ? [{ type: 'A', name, ttl: 60, data: address }] : [],
    });
    socket.send(reply, rinfo.port, rinfo.address);
  });
  return new Promise((resolve) => socket.bind(0, '127.0.0.1', () => resolve({ port: socket.address().port, socket })));
}

describe('mcsdns serve --corefile, fallthrough and answer options', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mcsdns-corefile-'));
  let cluster: StandInApiServer;
  let upstream: { port: number; socket: Socket };
  let serve: McsdnsProcess;
  let port = 0;

  before(async () => {
    cluster = await StandInApiServer.start();
    for (const o of demoObjects('east')) cluster.upsert(o);
    cluster.writeKubeconfig(join(dir, 'east.kubeconfig'), { context: 'kind-east' });
    upstream = await startUpstream();
    port = await freePort();
    const corefile = join(dir, 'Corefile');
    writeFileSync(
      corefile,
      [
        '# as a multicluster plugin user has it',
        `clusterset.local:${await freePort()} {`,
        '    multicluster clusterset.local {',
        `        kubeconfig ${join(dir, 'east.kubeconfig')} kind-east`,
        '        fallthrough',
        '    }',
        `    forward . 127.0.0.1:${upstream.port}`,
        '}',
        '',
      ].join('\n'),
    );
    serve = new McsdnsProcess('serve', [
      'serve',
      '--corefile',
      corefile,
      '--dns-listen', // a flag wins over the Corefile's port
      `127.0.0.1:${port}`,
      '--data-dir',
      join(dir, 'data'),
      '--max-endpoints',
      '1',
      '--checkpoint-every',
      '3',
    ]);
    await serve.waitForLine(/mcsdns serving/);
  });

  after(async () => {
    await serve?.kill('SIGKILL');
    upstream?.socket.close();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('watches the Corefile cluster under an id made from its context', async () => {
    assert.ok(serve.lines.some((l) => l.includes('gets the id kind-east')));
    await eventually(async () => answerStrings(await queryUdp(port, 'web.prod.svc.clusterset.local', 'A')), (a) => a[0] === 'A 10.96.100.10', 15000, 'web');
  });

  it('forwards what would be NXDOMAIN in the zone to the upstream, and names outside the zone too', async () => {
    await eventually(async () => rcode(await queryUdp(port, 'db.prod.svc.clusterset.local', 'A')), (r) => r === 'NOERROR', 15000, 'synced');
    assert.deepEqual(answerStrings(await queryUdp(port, 'legacy.prod.svc.clusterset.local', 'A')), ['A 192.0.2.7']);
    assert.equal(rcode(await queryUdp(port, 'gone.prod.svc.clusterset.local', 'A')), 'NXDOMAIN');
    const out = await dig(port, ['www.example.org', 'A']);
    assert.match(out, /www\.example\.org\.\s+60\s+IN\s+A\s+192\.0\.2\.80/);
  });

  it('writes read-model checkpoints from its worker thread, each named by the sequence it holds', async () => {
    const checkpoints = join(dir, 'data', 'checkpoints');
    // Logged once the worker has renamed the finished copy into place.
    await serve.waitForLine(/read model checkpoint written/);
    const files = existsSync(checkpoints) ? readdirSync(checkpoints) : [];
    assert.ok(files.some((n) => /^readmodel-\d{12}\.db$/.test(n)), `a checkpoint among ${files.join(', ')}`);
    const file = files.find((n) => /^readmodel-\d{12}\.db$/.test(n))!;
    const db = new Database(join(checkpoints, file), { readonly: true });
    assert.equal(db.prepare('SELECT last_applied_seq FROM meta').pluck().get(), Number(file.slice(10, 22)));
    db.close();
  });

  it('answers at most --max-endpoints records, rotating through all of them', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const a = answerStrings(await queryUdp(port, 'db.prod.svc.clusterset.local', 'A'));
      assert.equal(a.length, 1);
      seen.add(a[0]!);
    }
    assert.deepEqual([...seen].sort(), ['A 10.1.0.10', 'A 10.1.0.11', 'A 10.2.0.10']);
  });
});
