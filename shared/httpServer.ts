// The operations endpoint every process serves on --http-listen:
// /healthz (the process runs), /readyz (every readiness check passes) and
// /metrics (Prometheus text of the process's registry).
import http from 'node:http';
import net from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from './logger.js';

export interface Readiness {
  ok: boolean;
  reason?: string; // why not, when not ok
}

export interface ReadinessCheck {
  name: string;
  ready: () => Readiness;
}

export interface HttpServerOptions {
  registry: Registry;
  checks: ReadinessCheck[];
  logger: Logger;
  // Further routes (the aggregator's audit API): true when one answered.
  routes?: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<boolean>;
}

export interface HttpServer {
  address: { host: string; port: number }; // the port actually bound (port 0 picks one)
  stop(): Promise<void>;
}

// The checks that fail, each with its reason; a check that throws fails with the error.
function failingChecks(checks: ReadinessCheck[]): { name: string; reason: string }[] {
  const failing: { name: string; reason: string }[] = [];
  for (const check of checks) {
    let result: Readiness;
    try {
      result = check.ready();
    } catch (err) {
      result = { ok: false, reason: err instanceof Error ? err.message : String(err) };
    }
    if (!result.ok) failing.push({ name: check.name, reason: result.reason ?? 'not ready' });
  }
  return failing;
}

export async function startHttpServer(listen: { host: string; port: number }, opts: HttpServerOptions): Promise<HttpServer> {
  const server = http.createServer((req, res) => {
    handle(req, res, opts).catch((err: unknown) => {
      opts.logger.error({ err, path: req.url }, 'HTTP request failed');
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(listenError(listen, err)));
    server.listen({ host: listen.host, port: listen.port }, () => {
      server.removeAllListeners('error');
      resolve();
    });
  });
  server.on('error', (err) => opts.logger.warn({ err }, 'HTTP server error'));
  const address = { host: listen.host, port: (server.address() as net.AddressInfo).port };
  opts.logger.info({ address }, 'HTTP endpoint listening (/healthz, /readyz, /metrics)');
  return {
    address,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // keep-alive connections would hold close() open
      }),
  };
}

async function handle(req: http.IncomingMessage, res: http.ServerResponse, opts: HttpServerOptions): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  if (opts.routes && (await opts.routes(req, res))) return;
  if (path !== '/healthz' && path !== '/readyz' && path !== '/metrics') {
    send(res, 404, 'text/plain; charset=utf-8', 'not found: try /healthz, /readyz or /metrics\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
    return;
  }
  switch (path) {
    case '/healthz':
      send(res, 200, 'text/plain; charset=utf-8', 'ok\n');
      return;
    case '/readyz': {
      const failing = failingChecks(opts.checks);
      if (failing.length === 0) send(res, 200, 'text/plain; charset=utf-8', 'ok\n');
      else send(res, 503, 'application/json', `${JSON.stringify({ ready: false, failing })}\n`);
      return;
    }
    case '/metrics':
      send(res, 200, opts.registry.contentType, await opts.registry.metrics());
      return;
  }
}

function send(res: http.ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function listenError(listen: { host: string; port: number }, err: Error): Error {
  const where = net.isIPv6(listen.host) ? `[${listen.host}]:${listen.port}` : `${listen.host}:${listen.port}`;
  const code = 'code' in err ? err.code : undefined;
  const why = code === 'EADDRINUSE' ? 'address already in use' : code === 'EADDRNOTAVAIL' ? 'address not available on this host' : err.message;
  return new Error(`HTTP endpoint cannot listen on ${where}: ${why}`);
}
