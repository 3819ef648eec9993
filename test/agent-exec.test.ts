// The agent authenticating through an exec credential plugin in the
// kubeconfig, against a stand-in API server that requires the plugin's token.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { StandInApiServer } from './k8s/apiServer.js';
import { Agent, type EventSink } from '../services/agent/agent.js';
import { loadKubeConfig } from '../services/agent/kubeconfig.js';
import type { ChangeEvent } from '../shared/events.js';

const TOKEN = 'exec-plugin-token';

// Prints an ExecCredential with the token given to it, or fails while the marker file exists.
const PLUGIN = `
import { existsSync } from 'node:fs';
const [marker, token] = process.argv.slice(2);
if (existsSync(marker)) {
  process.stderr.write('plugin: credentials unavailable\\n');
  process.exit(1);
}
process.stdout.write(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token } }));
`;

async function waitFor(what: string, condition: () => boolean, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function setup(t: TestContext, pluginToken: string) {
  const dir = mkdtempSync(join(tmpdir(), 'mcsdns-agent-exec-'));
  const server = await StandInApiServer.start({ tokens: [TOKEN] });
  server.upsert({ kind: 'Namespace', metadata: { name: 'prod' } });
  const plugin = join(dir, 'plugin.mjs');
  const marker = join(dir, 'plugin-fails');
  writeFileSync(plugin, PLUGIN);
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'standin', cluster: { server: server.url, 'insecure-skip-tls-verify': true } }],
      users: [
        {
          name: 'plugin-user',
          user: {
            exec: {
              apiVersion: 'client.authentication.k8s.io/v1',
              command: process.execPath,
              args: [plugin, marker, pluginToken],
              interactiveMode: 'Never',
            },
          },
        },
      ],
      contexts: [{ name: 'plugin@standin', context: { cluster: 'standin', user: 'plugin-user' } }],
      'current-context': 'plugin@standin',
    }),
  );
  const logs: { level: number; msg: string; reason?: string }[] = [];
  const events: ChangeEvent[] = [];
  const sink: EventSink = { publish: async (batch) => void events.push(...batch) };
  const agent = new Agent({
    clusterId: 'east',
    kubeConfig: loadKubeConfig({ kubeconfig }),
    noEndpoints: true,
    sink,
    logger: pino(
      { level: 'debug' },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          logs.push(JSON.parse(chunk.toString()));
          done();
        },
      }),
    ),
    backoff: { initialMs: 20, maxMs: 200 },
  });
  t.after(async () => {
    await agent.stop();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  await agent.start();
  return { server, agent, events, logs, marker };
}

describe('agent with an exec credential plugin', { timeout: 15_000 }, () => {
  it('authenticates every list and watch with the token the plugin prints', async (t) => {
    const { server, agent, events } = await setup(t, TOKEN);
    assert.equal(await agent.waitForSync(8000), true);
    await server.waitForWatches(2, undefined, 8000);
    assert.ok(server.requests.length >= 5);
    assert.deepEqual(server.requests.filter((r) => r.status !== 200), []);
    assert.ok(events.some((e) => e.op === 'upsert' && e.name === 'prod'));
  });

  it('logs the refusal and keeps retrying when the server rejects the credentials', async (t) => {
    const { server, agent, logs } = await setup(t, 'wrong-token');
    await waitFor('repeated 401s', () => server.requests.filter((r) => r.status === 401).length >= 4);
    assert.equal(agent.synced, false);
    assert.ok(logs.some((l) => l.level === 40 && /^HTTP 401/.test(l.reason ?? '')));
  });

  it('survives a plugin that fails when a watch re-opens, and recovers when it works again', async (t) => {
    const { server, agent, events, logs, marker } = await setup(t, TOKEN);
    assert.equal(await agent.waitForSync(8000), true);
    await server.waitForWatches(2, undefined, 8000);

    writeFileSync(marker, '');
    server.dropWatches();
    await waitFor('the plugin failure in the log', () => logs.some((l) => l.level === 40 && (l.reason ?? '').includes('plugin: credentials unavailable')));
    unlinkSync(marker);
    await server.waitForWatches(2, undefined, 8000);
    server.upsert({ kind: 'Namespace', metadata: { name: 'after' } });
    await waitFor('the change after recovery', () => events.some((e) => e.op === 'upsert' && e.name === 'after'));
  });
});
