// The audit timeline through the real path: two stand-in API servers, the
// agents' informers publishing to the embedded log, and a scripted sequence
// of changes (create, scale, endpoints not ready, delete, re-create, a re-list
// after 410 Gone). After each step, once the log shows it, the moment is
// noted; audit resolve at each moment gives what DNS answered then.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, eventLogSink } from '../services/agent/agent.js';
import { loadKubeConfig } from '../services/agent/kubeconfig.js';
import { runAuditHistory, runAuditResolve } from '../services/audit/commands.js';
import type { HistoryEntry } from '../services/audit/history.js';
import type { AuditAnswer } from '../services/audit/resolve.js';
import { KINDS, SERVICE_NAME_LABEL, type ChangeEvent } from '../shared/events.js';
import { SqliteEventLog } from '../shared/sqliteEventLog.js';
import { tempDir } from './aggregator-events.js';
import { StandInApiServer } from './k8s/apiServer.js';
import { captureOutput } from './audit-timeline.js';

const zone = 'clusterset.local';

// Objects as a client would create them.
const prod = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'prod' } };
const web = (ip: string) => ({
  apiVersion: 'multicluster.x-k8s.io/v1beta1',
  kind: 'ServiceImport',
  metadata: { name: 'web', namespace: 'prod' },
  spec: { type: 'ClusterSetIP', ips: [ip], ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
});
const db = {
  apiVersion: 'multicluster.x-k8s.io/v1beta1',
  kind: 'ServiceImport',
  metadata: { name: 'db', namespace: 'prod' },
  spec: { type: 'Headless', ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }] },
};
const dbSlice = (name: string, addresses: string[], ready = true) => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name, namespace: 'prod', labels: { [SERVICE_NAME_LABEL]: 'db' } },
  addressType: 'IPv4',
  endpoints: addresses.map((address) => ({ addresses: [address], conditions: { ready } })),
  ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }],
});

interface Moment {
  step: string;
  seq: number; // the log's last event once it showed the step
  time: string; // noted after that, before the next step
}

describe('audit of a timeline the agents published', { timeout: 30_000 }, () => {
  const temp = tempDir();
  const log = SqliteEventLog.open(join(temp.dir, 'events.db'));
  const servers: Record<'east' | 'west', StandInApiServer | undefined> = { east: undefined, west: undefined };
  const agents: Agent[] = [];
  const moments: Moment[] = [];

  const startAgent = async (cluster: 'east' | 'west', objects: object[]) => {
    const server = (servers[cluster] = await StandInApiServer.start());
    for (const object of objects) server.upsert(object);
    server.writeKubeconfig(join(temp.dir, `${cluster}.kubeconfig`));
    const agent = new Agent({ clusterId: cluster, kubeConfig: loadKubeConfig({ kubeconfig: join(temp.dir, `${cluster}.kubeconfig`) }), sink: eventLogSink(log), backoff: { initialMs: 20, maxMs: 200 } });
    agents.push(agent);
    await agent.start();
    assert.ok(await agent.waitForSync(10_000), `${cluster} synced`);
    await server.waitForWatches(KINDS.length);
    return server;
  };

  // Waits until the events logged since `fromSeq` satisfy `shows`, then notes the moment.
  const note = async (step: string, fromSeq: number, shows: (events: ChangeEvent[]) => boolean) => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const events = (await log.read(fromSeq + 1, 10_000)).map((e) => JSON.parse(e.payload) as ChangeEvent);
      if (shows(events)) break;
      if (Date.now() > deadline) throw new Error(`the log did not show "${step}": ${events.map(label).join(', ')}`);
      await sleep(20);
    }
    const seq = await log.lastSeq();
    await sleep(5); // the noted time falls strictly between this step's events and the next's
    moments.push({ step, seq, time: new Date().toISOString() });
    await sleep(5);
  };
  const label = (e: ChangeEvent) => `${e.cluster} ${e.op} ${e.kind}${'name' in e ? ` ${e.name}` : ''}`;
  const has = (events: ChangeEvent[], ...wanted: string[]) => wanted.every((w) => events.some((e) => label(e) === w));
  const relisted = (cluster: string) => KINDS.map((kind) => `${cluster} sync-end ${kind}`);

  before(async () => {
    let seq = await log.lastSeq();
    await startAgent('east', [prod, web('10.0.0.1'), db, dbSlice('db-east', ['10.1.0.1', '10.1.0.2'])]);
    await note('east created and synced', seq, (events) => has(events, ...relisted('east')));

    seq = await log.lastSeq();
    const west = await startAgent('west', [prod, web('10.0.0.1'), db, dbSlice('db-west', ['10.2.0.1'])]);
    await note('west created and synced', seq, (events) => has(events, ...relisted('west')));

    const east = servers.east!;
    seq = await log.lastSeq();
    east.upsert(dbSlice('db-east', ['10.1.0.1', '10.1.0.2', '10.1.0.3']));
    await note('east scaled db to three', seq, (events) => has(events, 'east upsert EndpointSlice db-east'));

    seq = await log.lastSeq();
    east.upsert(dbSlice('db-east', ['10.1.0.1', '10.1.0.2', '10.1.0.3'], false));
    await note("east's db endpoints not ready", seq, (events) => has(events, 'east upsert EndpointSlice db-east'));

    seq = await log.lastSeq();
    east.delete('ServiceImport', 'prod', 'web');
    west.delete('ServiceImport', 'prod', 'web');
    await note('web deleted in both clusters', seq, (events) => has(events, 'east delete ServiceImport web', 'west delete ServiceImport web'));

    seq = await log.lastSeq();
    east.upsert(web('10.0.0.2'));
    await note('web re-created in east', seq, (events) => has(events, 'east upsert ServiceImport web'));

    // While west's watches are down its history expires: the agent sees 410 Gone and lists again.
    seq = await log.lastSeq();
    west.expireHistory();
    west.dropWatches();
    west.delete('EndpointSlice', 'prod', 'db-west');
    west.upsert(dbSlice('db-west-2', ['10.2.0.9']));
    await note('west re-listed after 410 Gone', seq, (events) => has(events, ...relisted('west')));
    assert.ok(west.requests.some((r) => r.status === 410), 'the stand-in answered 410 Gone');
  });
  after(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await Promise.all(Object.values(servers).map((s) => s?.stop()));
    await log.close();
    temp.remove();
  });

  const resolve = async (name: string, at: string) => {
    const answer = JSON.parse(await captureOutput((out) => runAuditResolve({ log, zone, ttl: 5, json: true, name: `${name}.${zone}`, at }, out))) as AuditAnswer;
    return `${answer.rcode} ${answer.answer.map((r) => r.data).sort().join(' ')}`.trim();
  };

  it('resolve gives, at each noted moment, the answer of that moment', async () => {
    const names = ['web.prod.svc', 'db.prod.svc', '10-1-0-3.east.db.prod.svc', '10-2-0-1.west.db.prod.svc', '10-2-0-9.west.db.prod.svc'];
    // Per step, the answers of the names above.
    const expected: Record<string, string[]> = {
      'east created and synced': ['NOERROR 10.0.0.1', 'NOERROR 10.1.0.1 10.1.0.2', 'NXDOMAIN', 'NXDOMAIN', 'NXDOMAIN'],
      'west created and synced': ['NOERROR 10.0.0.1', 'NOERROR 10.1.0.1 10.1.0.2 10.2.0.1', 'NXDOMAIN', 'NOERROR 10.2.0.1', 'NXDOMAIN'],
      'east scaled db to three': ['NOERROR 10.0.0.1', 'NOERROR 10.1.0.1 10.1.0.2 10.1.0.3 10.2.0.1', 'NOERROR 10.1.0.3', 'NOERROR 10.2.0.1', 'NXDOMAIN'],
      "east's db endpoints not ready": ['NOERROR 10.0.0.1', 'NOERROR 10.2.0.1', 'NXDOMAIN', 'NOERROR 10.2.0.1', 'NXDOMAIN'],
      'web deleted in both clusters': ['NXDOMAIN', 'NOERROR 10.2.0.1', 'NXDOMAIN', 'NOERROR 10.2.0.1', 'NXDOMAIN'],
      'web re-created in east': ['NOERROR 10.0.0.2', 'NOERROR 10.2.0.1', 'NXDOMAIN', 'NOERROR 10.2.0.1', 'NXDOMAIN'],
      'west re-listed after 410 Gone': ['NOERROR 10.0.0.2', 'NOERROR 10.2.0.9', 'NXDOMAIN', 'NXDOMAIN', 'NOERROR 10.2.0.9'],
    };
    assert.deepEqual(moments.map((m) => m.step), Object.keys(expected));
    for (const { step, seq, time } of moments) {
      for (const [i, name] of names.entries()) {
        assert.equal(await resolve(name, time), expected[step]![i], `${name} at ${time} (${step})`);
        assert.equal(await resolve(name, `#${seq}`), expected[step]![i], `${name} at seq ${seq} (${step})`);
      }
    }
  });

  it("history shows the re-list's end dropping the slice deleted while the watch was down", async () => {
    const since = moments.at(-2)!.time;
    const entries = JSON.parse(await captureOutput((out) => runAuditHistory({ log, zone, json: true, target: `10-2-0-1.west.db.prod.svc.${zone}`, since }, out))) as HistoryEntry[];
    assert.deepEqual(
      entries.map((e) => [e.cluster, e.event.replace(/epoch \d+/, 'epoch E'), e.objects.map((o) => `${o.change} ${o.object}`), e.dns]),
      [['west', 'sync-end EndpointSlice epoch E', ['deleted EndpointSlice west prod/db-west'], { added: [], removed: [`10-2-0-1.west.db.prod.svc.${zone}. A 10.2.0.1`] }]],
    );
  });
});
