// `mcsdns serve --nats`: all three roles in one process over JetStream, with
// a separate frontend process following the view it publishes.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { demoObjects } from '../scripts/demoObjects.js';
import { StandInApiServer } from './k8s/apiServer.js';
import { answerStrings, eventually, freePort, queryUdp } from './support/dnsClient.js';
import { McsdnsProcess } from './support/mcsdnsProcess.js';
import { NatsServer, natsServerMissing } from './support/natsServer.js';

describe('mcsdns serve --nats', { skip: natsServerMissing() }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'mcsdns-servenats-'));
  let nats: NatsServer;
  let cluster: StandInApiServer;
  const procs: McsdnsProcess[] = [];
  let servePort = 0;
  let frontendPort = 0;
  let httpPort = 0;

  before(async () => {
    nats = await NatsServer.start();
    cluster = await StandInApiServer.start();
    for (const o of demoObjects('east')) cluster.upsert(o);
    cluster.writeKubeconfig(join(dir, 'east.kubeconfig'));
    [servePort, frontendPort, httpPort] = [await freePort(), await freePort(), await freePort()];
    const serve = new McsdnsProcess('serve', [
      'serve',
      '--nats',
      nats.url,
      '--nats-prefix',
      'hub',
      '--cluster',
      `east=${join(dir, 'east.kubeconfig')}`,
      '--data-dir',
      join(dir, 'data'),
      '--dns-listen',
      `127.0.0.1:${servePort}`,
      '--http-listen',
      `127.0.0.1:${httpPort}`,
    ]);
    procs.push(serve);
    await serve.waitForLine(/mcsdns serving/);
    const frontend = new McsdnsProcess('frontend', ['frontend', '--nats', nats.url, '--nats-prefix', 'hub', '--dns-listen', `127.0.0.1:${frontendPort}`]);
    procs.push(frontend);
    await frontend.waitForLine(/mcsdns frontend running/);
  });

  after(async () => {
    await Promise.all(procs.map((p) => p.kill('SIGKILL')));
    await cluster?.stop();
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers from the JetStream log, and so does a frontend following its view', async () => {
    for (const port of [servePort, frontendPort]) {
      await eventually(
        async () => answerStrings(await queryUdp(port, 'db.prod.svc.clusterset.local', 'A')),
        (a) => a.join() === 'A 10.1.0.10,A 10.1.0.11,A 10.2.0.10',
        15000,
        `answers on ${port}`,
      );
    }
    const info = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
    assert.equal(info.status, 200);
    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    assert.match(metrics, /mcsdns_aggregator_events_applied_total [1-9]/);
    assert.match(metrics, /mcsdns_agent_events_published_total\{cluster="east",kind="ServiceImport",op="upsert"\} [1-9]/);
    // The audit API answers from the JetStream log.
    const audit = await fetch(`http://127.0.0.1:${httpPort}/api/audit/resolve?name=web.prod.svc.clusterset.local&type=A`);
    assert.equal(audit.status, 200);
    assert.match(await audit.text(), /10\.96\.100\.10/);
    const bad = await fetch(`http://127.0.0.1:${httpPort}/api/audit/resolve?name=web.prod.svc.clusterset.local&at=yesterday`);
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /invalid point "yesterday"/);
    // The events went to the prefixed stream, not to an embedded log.
    assert.match(procs[0]!.lines.join('\n'), /"log":"jetstream"/);
  });
});
