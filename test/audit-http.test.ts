// The audit API over HTTP: JSON answers, 400 for bad input, 404 elsewhere under /api/audit/.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SqliteEventLog } from '../shared/sqliteEventLog.js';
import { auditRoutes } from '../services/audit/http.js';
import { tempDir } from './aggregator-events.js';
import { at, writeTimeline } from './audit-timeline.js';

describe('audit HTTP API', () => {
  const temp = tempDir();
  let clock = 0;
  const log = SqliteEventLog.open(join(temp.dir, 'events.db'), { clock: () => clock });
  const handle = auditRoutes({ log, zone: 'clusterset.local', ttl: 5 });
  const server: Server = createServer((req, res) => {
    void handle(req, res).then((answered) => answered || res.writeHead(418).end());
  });
  let base = '';

  before(async () => {
    await writeTimeline(log, (ms) => (clock = ms));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    await log.close();
    temp.remove();
  });

  const get = async (path: string) => {
    const res = await fetch(`${base}${path}`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('answers the three questions as JSON', async () => {
    const resolve = await get(`/api/audit/resolve?name=web.prod.svc.clusterset.local&at=${encodeURIComponent(at(5, 30))}`);
    assert.equal(resolve.status, 200);
    assert.equal(resolve.body.rcode, 'NOERROR');
    assert.deepEqual((resolve.body.answer as { data: string }[]).map((r) => r.data), ['10.0.0.2']);
    const history = await get('/api/audit/history?target=prod/web');
    assert.equal(history.status, 200);
    assert.equal((history.body as unknown as unknown[]).length, 5);
    const diff = await get(`/api/audit/diff?from=${encodeURIComponent(at(4, 30))}&to=${encodeURIComponent(at(5, 30))}`);
    assert.deepEqual(diff.body, [{ name: 'web.prod.svc.clusterset.local.', added: ['web.prod.svc.clusterset.local. A 10.0.0.2', 'web.prod.svc.clusterset.local. SRV 0 100 80 web.prod.svc.clusterset.local.'], removed: [] }, { name: '_http._tcp.web.prod.svc.clusterset.local.', added: ['_http._tcp.web.prod.svc.clusterset.local. SRV 0 100 80 web.prod.svc.clusterset.local.'], removed: [] }].sort((a, b) => (a.name < b.name ? -1 : 1)));
  });

  it('gives a clear 400 for bad times and names, 404 for other questions, and leaves other paths alone', async () => {
    assert.deepEqual(await get('/api/audit/resolve?name=web.prod.svc&at=soon'), { status: 400, body: { error: 'invalid point "soon": use a sequence (123 or #123) or a time: RFC 3339 (2025-06-01T12:00:00Z), now, or relative (-30s, -15m, -2h, -2d, -1w)' } });
    assert.equal((await get('/api/audit/resolve?at=now')).body.error, 'query parameter name is required');
    assert.match(String((await get('/api/audit/history?target=prod/ghost')).body.error), /unknown name/);
    assert.match(String((await get('/api/audit/diff?from=2020-01-01T00:00:00Z&to=now')).body.error), /earliest available moment is 2025-06-01T12:00:00.000Z/);
    assert.equal((await get('/api/audit/replay')).status, 404);
    assert.equal((await fetch(`${base}/metrics`)).status, 418);
  });
});
