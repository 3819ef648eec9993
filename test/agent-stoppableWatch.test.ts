import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { StandInApiServer } from './k8s/apiServer.js';
import { StoppableWatch } from '../services/agent/stoppableWatch.js';

let server: StandInApiServer;
before(async () => {
  server = await StandInApiServer.start();
  server.upsert({ kind: 'Namespace', metadata: { name: 'prod' } });
});
after(() => server.stop());

function kubeConfig(user: Record<string, unknown> = {}, url = server.url): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(
    stringify({
      clusters: [{ name: 'c', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'u', user }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    }),
  );
  return kc;
}

function doneOnce(): { done: (err: unknown) => void; result: Promise<unknown> } {
  let done!: (err: unknown) => void;
  const result = new Promise<unknown>((resolve) => (done = resolve));
  return { done, result };
}

describe('StoppableWatch', { timeout: 10_000 }, () => {
  it('reports a failure before the request (a failing exec plugin) through done instead of rejecting', async () => {
    const failingPlugin = { exec: { command: process.execPath, args: ['-e', 'process.stderr.write("no credentials"); process.exit(1)'] } };
    const watch = new StoppableWatch(kubeConfig(failingPlugin));
    const { done, result } = doneOnce();
    await watch.watch('/api/v1/namespaces', {}, () => {}, done);
    assert.match(String(await result), /no credentials/);
  });

  it('closes a watch that opens after stop()', async () => {
    const watch = new StoppableWatch(kubeConfig());
    const { done, result } = doneOnce();
    watch.stop();
    await watch.watch('/api/v1/namespaces', { resourceVersion: '1' }, () => {}, done);
    assert.equal((await result as Error).name, 'AbortError');
    const deadline = Date.now() + 2000;
    while (server.activeWatches() > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(server.activeWatches(), 0);
  });

  it('without stop(), watches as client-node does', async () => {
    const watch = new StoppableWatch(kubeConfig());
    const seen: string[] = [];
    const { done, result } = doneOnce();
    const request = await watch.watch('/api/v1/namespaces', {}, (phase, obj) => seen.push(`${phase} ${obj.metadata.name}`), done);
    await server.waitForWatches(1, 'Namespace');
    server.upsert({ kind: 'Namespace', metadata: { name: 'dev' } });
    const deadline = Date.now() + 2000;
    while (seen.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(seen, ['ADDED prod', 'ADDED dev']);
    request.abort();
    await result;
  });

  it('splits the stream into lines wherever the chunks break, skips what is not JSON, and reports a clean end with null', async () => {
    const { url, close } = await rawServer((res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write('{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n{"type":"MOD');
      setTimeout(() => res.write('IFIED","object":{"metadata":{"name":"b"}}}\nnot json\n{"type":"DELETED",'), 20);
      setTimeout(() => res.end('"object":{"metadata":{"name":"c"}}}\n'), 40);
    });
    const seen: string[] = [];
    const { done, result } = doneOnce();
    await new StoppableWatch(kubeConfig({}, url)).watch('/api/v1/namespaces', { resourceVersion: '5' }, (phase, obj) => seen.push(`${phase} ${obj.metadata.name}`), done);
    assert.equal(await result, null);
    assert.deepEqual(seen, ['ADDED a', 'MODIFIED b', 'DELETED c']);
    await close();
  });

  it('reports a refused watch with its status code, and a connection lost mid-stream as an error', async () => {
    const gone = await rawServer((res) => {
      res.writeHead(410, { 'Content-Type': 'application/json' });
      res.end('{}');
    });
    const refused = doneOnce();
    await new StoppableWatch(kubeConfig({}, gone.url)).watch('/api/v1/namespaces', {}, () => {}, refused.done);
    assert.equal(((await refused.result) as { statusCode?: number }).statusCode, 410);
    await gone.close();

    const cut = await rawServer((res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write('{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n');
      setTimeout(() => res.destroy(), 20);
    });
    const lost = doneOnce();
    await new StoppableWatch(kubeConfig({}, cut.url)).watch('/api/v1/namespaces', {}, () => {}, lost.done);
    assert.ok((await lost.result) instanceof Error);
    await cut.close();
  });
});

async function rawServer(respond: (res: ServerResponse) => void): Promise<{ url: string; close: () => Promise<void> }> {
  const raw = createServer((_req, res) => respond(res));
  await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(raw.address() as AddressInfo).port}`;
  return {
    url,
    close: () => {
      raw.closeAllConnections();
      return new Promise((resolve) => raw.close(() => resolve()));
    },
  };
}
