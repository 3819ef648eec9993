// The operations endpoint over real HTTP: /healthz, /readyz with its reasons,
// /metrics, unknown paths and methods, and an address already in use.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Counter } from 'prom-client';
import { startHttpServer, type HttpServer, type Readiness } from '../shared/httpServer.js';
import { silentLogger } from '../shared/logger.js';
import { createRegistry } from '../shared/metrics.js';

const HOST = '127.0.0.1';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(port: number, path: string, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: HOST, port, path, method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('HTTP endpoint', () => {
  const registry = createRegistry();
  const probe = new Counter({ name: 'mcsdns_test_probes_total', help: 'A counter for this test.', registers: [registry] });
  let aggregator: Readiness = { ok: false, reason: 'clusters not synced yet: east' };
  let frontend: Readiness = { ok: false };
  const checks = [
    { name: 'aggregator', ready: () => aggregator },
    { name: 'frontend', ready: () => frontend },
  ];
  let server: HttpServer;

  before(async () => {
    server = await startHttpServer({ host: HOST, port: 0 }, { registry, checks, logger: silentLogger });
  });
  after(() => server.stop());

  it('binds a free port for port 0', () => {
    assert.equal(server.address.host, HOST);
    assert.ok(server.address.port > 0);
  });

  it('/healthz answers 200 ok', async () => {
    const reply = await request(server.address.port, '/healthz');
    assert.deepEqual([reply.status, reply.body], [200, 'ok\n']);
  });

  it('/readyz answers 503 with every failing check and its reason, then 200 once all pass', async () => {
    const notReady = await request(server.address.port, '/readyz');
    assert.equal(notReady.status, 503);
    assert.match(String(notReady.headers['content-type']), /^application\/json/);
    assert.deepEqual(JSON.parse(notReady.body), {
      ready: false,
      failing: [
        { name: 'aggregator', reason: 'clusters not synced yet: east' },
        { name: 'frontend', reason: 'not ready' },
      ],
    });

    aggregator = { ok: true };
    const oneLeft = await request(server.address.port, '/readyz');
    assert.equal(oneLeft.status, 503);
    assert.deepEqual(JSON.parse(oneLeft.body).failing, [{ name: 'frontend', reason: 'not ready' }]);

    frontend = { ok: true };
    const ready = await request(server.address.port, '/readyz?verbose');
    assert.deepEqual([ready.status, ready.body], [200, 'ok\n']);
  });

  it('/readyz counts a check that throws as failing, with the error as reason', async () => {
    checks.push({
      name: 'feed',
      ready: () => {
        throw new Error('feed closed');
      },
    });
    try {
      const reply = await request(server.address.port, '/readyz');
      assert.equal(reply.status, 503);
      assert.deepEqual(JSON.parse(reply.body).failing, [{ name: 'feed', reason: 'feed closed' }]);
    } finally {
      checks.pop();
    }
  });

  it('/metrics gives the registry in the Prometheus text format, read at each scrape', async () => {
    probe.inc(3);
    const first = await request(server.address.port, '/metrics');
    assert.equal(first.status, 200);
    assert.match(String(first.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    assert.match(first.body, /^# TYPE mcsdns_test_probes_total counter$/m);
    assert.match(first.body, /^mcsdns_test_probes_total 3$/m);
    assert.match(first.body, /^mcsdns_process_cpu_seconds_total /m, 'default process metrics, prefixed');
    probe.inc();
    assert.match((await request(server.address.port, '/metrics')).body, /^mcsdns_test_probes_total 4$/m);
  });

  it('answers HEAD without a body, 405 to other methods and 404 to other paths', async () => {
    const head = await request(server.address.port, '/healthz', 'HEAD');
    assert.deepEqual([head.status, head.body, head.headers['content-length']], [200, '', '3']);
    const post = await request(server.address.port, '/metrics', 'POST');
    assert.deepEqual([post.status, post.headers.allow], [405, 'GET, HEAD']);
    for (const path of ['/', '/health', '/metrics/x']) {
      assert.equal((await request(server.address.port, path)).status, 404, path);
    }
  });

  it('fails with one line when the address is in use', async () => {
    await assert.rejects(
      startHttpServer({ host: HOST, port: server.address.port }, { registry, checks, logger: silentLogger }),
      (err: Error) => {
        assert.equal(err.message, `HTTP endpoint cannot listen on ${HOST}:${server.address.port}: address already in use`);
        return true;
      },
    );
  });

  it('stops with keep-alive connections open', async () => {
    const other = await startHttpServer({ host: HOST, port: 0 }, { registry, checks, logger: silentLogger });
    const keepAlive = new http.Agent({ keepAlive: true });
    await new Promise<void>((resolve, reject) => {
      http.get({ host: HOST, port: other.address.port, path: '/healthz', agent: keepAlive }, (res) => res.resume().on('end', resolve)).on('error', reject);
    });
    await other.stop();
    keepAlive.destroy();
    await assert.rejects(request(other.address.port, '/healthz'), /ECONNREFUSED/);
  });
});
