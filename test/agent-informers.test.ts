// The agent against the stand-in API server: real client-node informers,
// real HTTP, an in-memory event sink.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { StandInApiServer, type StandInOptions } from './k8s/apiServer.js';
import { Agent, type EventSink } from '../services/agent/agent.js';
import { loadKubeConfig } from '../services/agent/kubeconfig.js';
import { parseEvent, SERVICE_NAME_LABEL, type ChangeEvent, type Kind, type UpsertEvent } from '../shared/events.js';

const ALL_KINDS: Kind[] = ['ServiceImport', 'EndpointSlice', 'Namespace'];
const fastBackoff = { initialMs: 20, maxMs: 200 };

// Fixtures, as a client would create them.
const namespace = (name: string) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
const serviceImport = (name: string, spec: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'multicluster.x-k8s.io/v1beta1',
  kind: 'ServiceImport',
  metadata: { name, namespace: 'prod', ...extra },
  spec,
});
const endpointSlice = (name: string, endpoints: unknown[], extra: Record<string, unknown> = {}, labels: Record<string, string> = { [SERVICE_NAME_LABEL]: 'db' }) => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name, namespace: 'prod', labels, ...extra },
  addressType: 'IPv4',
  endpoints,
  ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }],
});
const web = serviceImport('web', { type: 'ClusterSetIP', ips: ['10.96.0.10'], ports: [{ name: 'http', port: 80, protocol: 'TCP' }] });
const db = serviceImport('db', { type: 'Headless', ports: [{ name: 'pg', port: 5432 }] });
const dbSlice = (ready = true, extra: Record<string, unknown> = {}) =>
  endpointSlice('db-a1', [{ addresses: ['10.1.0.5'], hostname: 'db-0', conditions: { ready } }], extra);

class MemorySink implements EventSink {
  readonly events: ChangeEvent[] = [];
  failuresLeft = 0;
  async publish(batch: ChangeEvent[]): Promise<void> {
    if (this.failuresLeft > 0) {
      this.failuresLeft -= 1;
      throw new Error('event log unavailable');
    }
    this.events.push(...batch);
  }
}

interface LogLine {
  level: number;
  msg: string;
  reason?: string;
  kind?: string;
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function setup(
  t: TestContext,
  options: { server?: StandInOptions; seed?: object[]; noEndpoints?: boolean; failFirstRequests?: number } = {},
) {
  const dir = mkdtempSync(join(tmpdir(), 'mcsdns-agent-'));
  const server = await StandInApiServer.start(options.server);
  for (const object of options.seed ?? []) server.upsert(object);
  server.writeKubeconfig(join(dir, 'kubeconfig'));
  if (options.failFirstRequests) server.failNextRequests(options.failFirstRequests, 503);
  const logs: LogLine[] = [];
  const logStream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(JSON.parse(chunk.toString()));
      done();
    },
  });
  const sink = new MemorySink();
  const agent = new Agent({
    clusterId: 'east',
    kubeConfig: loadKubeConfig({ kubeconfig: join(dir, 'kubeconfig') }),
    noEndpoints: options.noEndpoints,
    sink,
    logger: pino({ level: 'debug' }, logStream),
    backoff: fastBackoff,
  });
  t.after(async () => {
    await agent.stop();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  await agent.start();
  return { server, agent, sink, logs };
}

const ofKind = (events: ChangeEvent[], kind: Kind) => events.filter((e) => e.kind === kind);
const label = (e: ChangeEvent) => ('name' in e ? `${e.op} ${e.name}` : e.op);

// Every event survives the aggregator's validation unchanged.
function assertValidEvents(events: ChangeEvent[]): void {
  for (const e of events) {
    const json = JSON.parse(JSON.stringify(e));
    assert.deepEqual(parseEvent(json), json);
  }
}

// The events of one sync: [sync-begin E, upserts stamped E…, sync-end E].
function assertSyncFrame(events: ChangeEvent[], kinds: Kind[], upsertNames: string[]): number {
  const first = events[0];
  assert.ok(first && first.op === 'sync-begin', `starts with sync-begin: ${events.map(label).join(', ')}`);
  const epoch = first.epoch;
  assert.deepEqual(events.map(label), ['sync-begin', ...upsertNames.map((n) => `upsert ${n}`), 'sync-end']);
  for (const e of events) {
    assert.equal(e.epoch, epoch);
    assert.equal(e.cluster, 'east');
    if (e.op === 'sync-begin' || e.op === 'sync-end') assert.deepEqual(e.kinds, kinds);
  }
  return epoch;
}

describe('agent against the stand-in API server', { timeout: 15_000 }, () => {
  it('publishes each kind as one sync epoch: sync-begin, the listed objects, sync-end', async (t) => {
    const { agent, sink } = await setup(t, { seed: [namespace('prod'), namespace('dev'), web, db, dbSlice()] });
    assert.equal(agent.synced, false);
    assert.equal(await agent.waitForSync(5000), true);
    assert.equal(agent.synced, true);
    assert.deepEqual(agent.kinds, ALL_KINDS);

    const epochs = [
      assertSyncFrame(ofKind(sink.events, 'ServiceImport'), ALL_KINDS, ['db', 'web']),
      assertSyncFrame(ofKind(sink.events, 'EndpointSlice'), ALL_KINDS, ['db-a1']),
      assertSyncFrame(ofKind(sink.events, 'Namespace'), ALL_KINDS, ['dev', 'prod']),
    ];
    assert.equal(new Set(epochs).size, 3, 'each list has its own epoch');
    const beginEpochs = sink.events.filter((e) => e.op === 'sync-begin').map((e) => e.epoch);
    assert.deepEqual(beginEpochs, [...beginEpochs].sort((a, b) => a - b), 'epochs increase in publish order');

    const upsert = (name: string) => sink.events.find((e): e is UpsertEvent => e.op === 'upsert' && e.name === name);
    const webEvent = upsert('web');
    assert.equal(webEvent?.namespace, 'prod');
    assert.deepEqual(webEvent?.object, { type: 'ClusterSetIP', ips: ['10.96.0.10'], ports: [{ name: 'http', protocol: 'TCP', port: 80 }] });
    const slice = upsert('db-a1');
    assert.ok(slice?.op === 'upsert' && slice.kind === 'EndpointSlice');
    assert.deepEqual(slice.object, {
      serviceName: 'db',
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.1.0.5'], hostname: 'db-0', ready: true }],
      ports: [{ name: 'pg', protocol: 'TCP', port: 5432 }],
    });
    assert.ok(slice.uid !== '' && slice.resourceVersion !== '');
    assert.equal(upsert('prod')?.namespace, '');
    assertValidEvents(sink.events);
  });

  it('applies the service-name label selector on the server, to the list and the watch', async (t) => {
    const unlabelled = endpointSlice('plain-svc-x', [{ addresses: ['10.9.9.9'] }], {}, { 'kubernetes.io/service-name': 'plain' });
    const { server, agent, sink } = await setup(t, { seed: [dbSlice(), unlabelled] });
    assert.equal(await agent.waitForSync(5000), true);
    await server.waitForWatches(1, 'EndpointSlice');
    server.upsert(endpointSlice('plain-svc-y', [{ addresses: ['10.9.9.8'] }], {}, { other: 'x' }));
    server.upsert(namespace('marker'));
    await waitFor('the marker namespace', () => sink.events.some((e) => e.op === 'upsert' && e.name === 'marker'));

    const sliceRequests = server.requests.filter((r) => r.path === '/apis/discovery.k8s.io/v1/endpointslices');
    const lists = sliceRequests.filter((r) => !/(^|&)watch=/.test(r.query));
    const watches = sliceRequests.filter((r) => /(^|&)watch=true/.test(r.query));
    assert.ok(lists.length >= 1 && watches.length >= 1);
    for (const r of [...lists, ...watches]) {
      assert.equal(new URLSearchParams(r.query).get('labelSelector'), SERVICE_NAME_LABEL, `${r.path}?${r.query}`);
    }
    assert.deepEqual(ofKind(sink.events, 'EndpointSlice').filter((e) => e.op === 'upsert').map(label), ['upsert db-a1']);
  });

  it('lists in pages of 500, all of them one sync epoch', async (t) => {
    const names = Array.from({ length: 1100 }, (_, i) => `ns-${String(i).padStart(4, '0')}`);
    const { server, agent, sink } = await setup(t, { seed: names.map(namespace) });
    assert.equal(await agent.waitForSync(10_000), true);
    assertSyncFrame(ofKind(sink.events, 'Namespace'), ALL_KINDS, names);
    const lists = server.requests.filter((r) => r.path === '/api/v1/namespaces' && !/(^|&)watch=/.test(r.query)).map((r) => new URLSearchParams(r.query));
    assert.deepEqual(lists.map((q) => q.get('limit')), ['500', '500', '500']);
    assert.deepEqual(lists.map((q) => q.has('continue')), [false, true, true]);
  });

  it('uses v1alpha1 when the cluster serves only v1alpha1', async (t) => {
    const { server, agent, sink } = await setup(t, { server: { serviceImportVersions: ['v1alpha1'] }, seed: [web] });
    assert.equal(await agent.waitForSync(5000), true);
    assertSyncFrame(ofKind(sink.events, 'ServiceImport'), ALL_KINDS, ['web']);
    const paths = new Set(server.requests.map((r) => r.path));
    assert.ok(paths.has('/apis/multicluster.x-k8s.io/v1alpha1/serviceimports'));
    assert.ok(!paths.has('/apis/multicluster.x-k8s.io/v1beta1/serviceimports'));
  });

  it('keeps retrying discovery, with one clear log line, while the MCS API group is not served; the rest runs', async (t) => {
    const { server, agent, sink, logs } = await setup(t, { server: { serviceImportVersions: [] }, seed: [namespace('prod'), dbSlice()] });
    const discoveries = () => server.requests.filter((r) => r.path === '/apis/multicluster.x-k8s.io').length;
    await waitFor('three discovery attempts', () => discoveries() >= 3);
    await waitFor('the other kinds to sync', () => sink.events.filter((e) => e.op === 'sync-end').length === 2);
    assert.deepEqual(sink.events.filter((e) => e.op === 'sync-end').map((e) => e.kind).sort(), ['EndpointSlice', 'Namespace']);
    assert.equal(agent.synced, false);
    assert.equal(await agent.waitForSync(50), false);
    const warnings = logs.filter((l) => l.level === 40 && l.msg.includes('ServiceImports'));
    assert.equal(warnings.length, 1, 'logged once, not at every retry');
    assert.match(warnings[0]?.reason ?? '', /API group multicluster\.x-k8s\.io is not served/);
  });

  it('with noEndpoints, watches no EndpointSlices and leaves them out of kinds', async (t) => {
    const { server, agent, sink } = await setup(t, { noEndpoints: true, seed: [web, dbSlice()] });
    assert.equal(await agent.waitForSync(5000), true);
    assert.deepEqual(agent.kinds, ['ServiceImport', 'Namespace']);
    assert.equal(ofKind(sink.events, 'EndpointSlice').length, 0);
    assertSyncFrame(ofKind(sink.events, 'ServiceImport'), ['ServiceImport', 'Namespace'], ['web']);
    assert.ok(!server.requests.some((r) => r.path.includes('endpointslices')));
  });

  it('publishes DNS-relevant changes only: not for an annotation, an upsert when an endpoint goes not-ready, a delete', async (t) => {
    const { server, agent, sink } = await setup(t, { seed: [web, dbSlice()] });
    assert.equal(await agent.waitForSync(5000), true);
    await server.waitForWatches(3);
    const sliceEpoch = ofKind(sink.events, 'EndpointSlice')[0]?.epoch;
    const before = sink.events.length;

    server.upsert(dbSlice(true, { annotations: { 'example.com/touched': 'yes' } }));
    server.upsert(serviceImport('web', web.spec, { labels: { team: 'a' } }));
    server.upsert(dbSlice(false));
    await waitFor('the not-ready upsert', () => sink.events.length > before);
    server.delete('EndpointSlice', 'prod', 'db-a1');
    await waitFor('the delete', () => sink.events.length > before + 1);
    // Never published, so its delete is not either.
    server.upsert(serviceImport('broken', { type: 'LoadBalancer' }));
    server.delete('ServiceImport', 'prod', 'broken');
    server.upsert(namespace('marker'));
    await waitFor('the marker', () => sink.events.some((e) => e.op === 'upsert' && e.name === 'marker'));

    const after = sink.events.slice(before);
    assert.deepEqual(after.map((e) => `${e.kind} ${label(e)}`), ['EndpointSlice upsert db-a1', 'EndpointSlice delete db-a1', 'Namespace upsert marker']);
    const [notReady, deleted] = after;
    assert.ok(notReady?.op === 'upsert' && notReady.kind === 'EndpointSlice');
    assert.deepEqual(notReady.object.endpoints, [{ addresses: ['10.1.0.5'], hostname: 'db-0', ready: false }]);
    assert.equal(notReady.epoch, sliceEpoch);
    assert.ok(deleted?.op === 'delete');
    assert.equal(deleted.epoch, sliceEpoch);
    assert.ok(Number(deleted.resourceVersion) > Number(notReady.resourceVersion));
    assertValidEvents(sink.events);
  });

  it('after 410 Gone, re-lists as a new epoch whose sync-end drops what was deleted while the watch was down', async (t) => {
    const api = serviceImport('api', { type: 'ClusterSetIP', ips: ['10.96.0.11'] });
    const { server, agent, sink } = await setup(t, { seed: [web, api] });
    assert.equal(await agent.waitForSync(5000), true);
    await server.waitForWatches(3);
    const firstEpoch = assertSyncFrame(ofKind(sink.events, 'ServiceImport'), ALL_KINDS, ['api', 'web']);
    const before = sink.events.length;

    server.expireHistory();
    server.dropWatches();
    server.delete('ServiceImport', 'prod', 'api');
    const relisted = () => ofKind(sink.events.slice(before), 'ServiceImport').some((e) => e.op === 'sync-end');
    await waitFor('the ServiceImport re-list', relisted);

    const events = ofKind(sink.events.slice(before), 'ServiceImport');
    const secondEpoch = assertSyncFrame(events, ALL_KINDS, ['web']);
    assert.ok(secondEpoch > firstEpoch);
    // What the aggregator keeps on sync-end: the objects stamped with that epoch.
    const kept = events.filter((e) => e.op === 'upsert' && e.epoch === secondEpoch).map(label);
    assert.deepEqual(kept, ['upsert web']);
    await server.waitForWatches(3);
    assert.ok(server.requests.some((r) => r.status === 410), 'the stand-in answered 410 Gone');
  });

  it('asks for bookmarks, so a dropped watch resumes from the last one without re-listing', async (t) => {
    const { server, agent, sink } = await setup(t, { seed: [web, namespace('prod')] });
    assert.equal(await agent.waitForSync(5000), true);
    await server.waitForWatches(3);
    server.upsert(namespace('later')); // moves the revision past what the ServiceImport list saw
    await waitFor('the later namespace', () => sink.events.some((e) => e.op === 'upsert' && e.name === 'later'));
    const before = sink.events.length;

    server.expireHistory();
    server.sendBookmarks();
    await new Promise((resolve) => setTimeout(resolve, 100)); // the bookmarks travel
    server.dropWatches();
    await server.waitForWatches(3);
    server.upsert(serviceImport('web', { ...web.spec, ips: ['10.96.0.99'] }));
    await waitFor('the change after the reconnect', () => sink.events.slice(before).some((e) => e.op === 'upsert' && e.name === 'web'));

    assert.deepEqual(sink.events.slice(before).map(label), ['upsert web'], 'no sync epoch: nothing was listed again');
    assert.ok(!server.requests.some((r) => r.status === 410), 'no 410 Gone');
    const watches = server.requests.filter((r) => /(^|&)watch=true/.test(r.query));
    assert.ok(watches.every((r) => new URLSearchParams(r.query).get('allowWatchBookmarks') === 'true'));
  });

  it('logs failed requests and recovers, at start and on a dropped watch', async (t) => {
    const { server, agent, sink, logs } = await setup(t, { seed: [web], failFirstRequests: 4 });
    assert.equal(await agent.waitForSync(5000), true);
    assert.ok(logs.some((l) => l.level === 40 && /^HTTP 503/.test(l.reason ?? '')), 'the failed lists are logged with their status');
    await server.waitForWatches(3);

    const before = sink.events.length;
    server.failNextRequests(3, 500);
    server.dropWatches();
    await waitFor('a logged HTTP 500', () => logs.some((l) => l.level === 40 && /^HTTP 500/.test(l.reason ?? '')));
    await server.waitForWatches(3);
    server.upsert(serviceImport('web', { ...web.spec, ips: ['10.96.0.12'] }));
    await waitFor('the change after recovery', () => sink.events.slice(before).some((e) => e.op === 'upsert' && e.name === 'web'));
    assert.ok(!logs.some((l) => l.level >= 50), 'nothing logged as an error');
  });

  it('when the sink fails, events arrive later, in order, none lost', async (t) => {
    const { server, agent, sink, logs } = await setup(t, { seed: [web, db, dbSlice(), namespace('prod')] });
    sink.failuresLeft = 3;
    assert.equal(await agent.waitForSync(5000), true);
    assertSyncFrame(ofKind(sink.events, 'ServiceImport'), ALL_KINDS, ['db', 'web']);
    assertSyncFrame(ofKind(sink.events, 'EndpointSlice'), ALL_KINDS, ['db-a1']);
    assertSyncFrame(ofKind(sink.events, 'Namespace'), ALL_KINDS, ['prod']);
    assert.equal(logs.filter((l) => l.msg.startsWith('event sink refused')).length, 1);
    await server.waitForWatches(3);

    const before = sink.events.length;
    sink.failuresLeft = 2;
    const ips = ['10.96.1.1', '10.96.1.2', '10.96.1.3'];
    for (const ip of ips) {
      server.upsert(serviceImport('web', { ...web.spec, ips: [ip] }));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    server.upsert(dbSlice(false));
    await waitFor('all four changes', () => sink.events.length >= before + 4);
    const after = sink.events.slice(before);
    assert.deepEqual(
      after.map((e) => (e.op === 'upsert' && e.kind === 'ServiceImport' ? e.object.ips[0] : label(e))),
      [...ips, 'upsert db-a1'],
    );
  });
});

describe('agent stop', () => {
  it('stops without error logs and leaves nothing running: the process exits by itself', async () => {
    const modules = {
      apiServer: fileURLToPath(new URL('./k8s/apiServer.ts', import.meta.url)),
      agent: fileURLToPath(new URL('../services/agent/agent.ts', import.meta.url)),
      kubeconfig: fileURLToPath(new URL('../services/agent/kubeconfig.ts', import.meta.url)),
    };
    const dir = mkdtempSync(join(tmpdir(), 'mcsdns-agent-stop-'));
    // Stops once every kind's list/watch has failed and its restart is scheduled, then waits for nothing.
    const script = `
      import { Writable } from 'node:stream';
      import { pino } from 'pino';
      import { StandInApiServer } from ${JSON.stringify(modules.apiServer)};
      import { Agent } from ${JSON.stringify(modules.agent)};
      import { loadKubeConfig } from ${JSON.stringify(modules.kubeconfig)};
      const logs = [];
      let stopping = false;
      const failing = new Set();
      let allFailing;
      const restarting = new Promise((resolve) => (allFailing = resolve));
      const stream = new Writable({ write(chunk, _e, done) {
        const line = JSON.parse(chunk.toString());
        if (stopping) logs.push(line);
        else if (line.msg.endsWith('list/watch failed; restarting it') && failing.add(line.kind).size === 3) allFailing();
        done();
      } });
      const server = await StandInApiServer.start();
      server.upsert({ kind: 'Namespace', metadata: { name: 'prod' } });
      server.writeKubeconfig(${JSON.stringify(join(dir, 'kubeconfig'))});
      const agent = new Agent({
        clusterId: 'east',
        kubeConfig: loadKubeConfig({ kubeconfig: ${JSON.stringify(join(dir, 'kubeconfig'))} }),
        sink: { async publish() {} },
        logger: pino({ level: 'debug' }, stream),
        backoff: { initialMs: 30, maxMs: 60 },
      });
      await agent.start();
      if (!(await agent.waitForSync(20_000))) throw new Error('no sync');
      server.failNextRequests(1000000);
      server.dropWatches();
      await restarting;
      stopping = true;
      await agent.stop();
      await server.stop();
      console.log(JSON.stringify({ stopped: true, logs }));
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    // Loading the modules takes seconds on a loaded machine: the exit is timed from the report, printed once stopped.
    let reportedAt = Infinity;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (stdout.includes('"stopped":true')) reportedAt = Math.min(reportedAt, Date.now());
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const code = await exited;
    const exitedAt = Date.now();
    clearTimeout(timer);
    rmSync(dir, { recursive: true, force: true });
    assert.equal(code, 0, `child exited by itself with 0 (stderr: ${stderr})`);
    assert.ok(exitedAt - reportedAt < 5000, `child exited ${exitedAt - reportedAt} ms after stopping`);
    const report = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as { stopped: boolean; logs: LogLine[] };
    assert.equal(report.stopped, true);
    assert.deepEqual(report.logs.filter((l) => l.level >= 40), [], 'no warnings or errors caused by stopping');
    assert.ok(report.logs.some((l) => l.msg === 'agent stopped'));
  });
});
