// The agent's metrics and readiness against the stand-in API server: events
// published by kind and op, watch restarts, the synced gauge and the queue length.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, type EventSink } from '../services/agent/agent.js';
import { loadKubeConfig } from '../services/agent/kubeconfig.js';
import type { ChangeEvent } from '../shared/events.js';
import { agentMetrics, createRegistry, type Registry } from '../shared/metrics.js';
import { StandInApiServer } from './k8s/apiServer.js';
import { sampleValue } from './metrics-samples.js';

const namespace = (name: string) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
const web = (ips: string[]) => ({
  apiVersion: 'multicluster.x-k8s.io/v1beta1',
  kind: 'ServiceImport',
  metadata: { name: 'web', namespace: 'prod' },
  spec: { type: 'ClusterSetIP', ips, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
});

class MemorySink implements EventSink {
  readonly events: ChangeEvent[] = [];
  async publish(batch: ChangeEvent[]): Promise<void> {
    this.events.push(...batch);
  }
}

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function setup(t: TestContext, registry: Registry, clusterId: string, seed: object[]) {
  const dir = mkdtempSync(join(tmpdir(), 'mcsdns-agent-metrics-'));
  const server = await StandInApiServer.start();
  for (const object of seed) server.upsert(object);
  server.writeKubeconfig(join(dir, 'kubeconfig'));
  const sink = new MemorySink();
  const agent = new Agent({
    clusterId,
    kubeConfig: loadKubeConfig({ kubeconfig: join(dir, 'kubeconfig') }),
    noEndpoints: true,
    sink,
    backoff: { initialMs: 20, maxMs: 200 },
    metrics: agentMetrics(registry),
  });
  t.after(async () => {
    await agent.stop();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { server, agent, sink };
}

describe('agent metrics', () => {
  it('counts published events by cluster, kind and op, and restarted watches', async (t) => {
    const registry = createRegistry();
    const { server, agent, sink } = await setup(t, registry, 'east', [web(['10.96.0.10']), namespace('prod'), namespace('dev')]);
    const value = async (name: string, labels: Record<string, string>) => sampleValue(await registry.metrics(), `mcsdns_agent_${name}`, labels);

    assert.deepEqual(agent.readiness(), { ok: false, reason: 'cluster east: not yet listed and published: ServiceImport, Namespace' });
    await agent.start();
    assert.equal(await value('synced', { cluster: 'east' }), 0);
    assert.equal(await agent.waitForSync(5000), true);
    assert.deepEqual(agent.readiness(), { ok: true });
    const east = { cluster: 'east' };
    assert.equal(await value('synced', east), 1);
    assert.equal(await value('events_published_total', { ...east, kind: 'Namespace', op: 'upsert' }), 2);
    assert.equal(await value('events_published_total', { ...east, kind: 'ServiceImport', op: 'upsert' }), 1);
    for (const kind of ['Namespace', 'ServiceImport']) {
      for (const op of ['sync-begin', 'sync-end']) assert.equal(await value('events_published_total', { ...east, kind, op }), 1, `${kind} ${op}`);
    }
    assert.equal(await value('publish_queue_length', east), 0);
    assert.equal(await value('watch_restarts_total', { ...east, kind: 'Namespace' }), undefined, 'no restart yet');

    await server.waitForWatches(2);
    server.dropWatches();
    await waitFor('both watches restarted', async () => (await value('watch_restarts_total', { ...east, kind: 'Namespace' })) === 1 && (await value('watch_restarts_total', { ...east, kind: 'ServiceImport' })) === 1);
    await server.waitForWatches(2);
    server.upsert(web(['10.96.0.11']));
    server.delete('Namespace', '', 'dev');
    await waitFor('the change and the delete', () => sink.events.some((e) => e.op === 'delete'));
    assert.equal(await value('events_published_total', { ...east, kind: 'ServiceImport', op: 'upsert' }), 2);
    assert.equal(await value('events_published_total', { ...east, kind: 'Namespace', op: 'delete' }), 1);
  });

  it('exports the publish queue length while the sink holds events back', async (t) => {
    const registry = createRegistry();
    const { agent, sink } = await setup(t, registry, 'east', [namespace('prod')]);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const publish = sink.publish.bind(sink);
    sink.publish = async (batch) => {
      await released;
      await publish(batch);
    };
    const queued = async () => sampleValue(await registry.metrics(), 'mcsdns_agent_publish_queue_length', { cluster: 'east' });
    await agent.start();
    // Namespace: sync-begin, prod, sync-end; ServiceImport: sync-begin, sync-end.
    await waitFor('both lists queued', async () => (await queued()) === 5);
    release();
    assert.equal(await agent.waitForSync(5000), true);
    assert.equal(await queued(), 0);
    assert.equal(sink.events.length, 5);
  });

  it('keeps two agents of one process apart by cluster on one registry', async (t) => {
    const registry = createRegistry();
    const east = await setup(t, registry, 'east', [namespace('prod')]);
    const west = await setup(t, registry, 'west', [namespace('prod'), namespace('dev')]);
    await Promise.all([east.agent.start(), west.agent.start()]);
    assert.deepEqual(await Promise.all([east.agent.waitForSync(5000), west.agent.waitForSync(5000)]), [true, true]);
    const text = await registry.metrics();
    assert.equal(sampleValue(text, 'mcsdns_agent_events_published_total', { cluster: 'east', kind: 'Namespace', op: 'upsert' }), 1);
    assert.equal(sampleValue(text, 'mcsdns_agent_events_published_total', { cluster: 'west', kind: 'Namespace', op: 'upsert' }), 2);
    assert.equal(sampleValue(text, 'mcsdns_agent_synced', { cluster: 'west' }), 1);
  });
});
