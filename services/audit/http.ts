// The audit questions over HTTP, as JSON, for the aggregator's --http-listen:
// GET /api/audit/resolve?name=&type=&at=, /api/audit/history?target=&since=&until=,
// /api/audit/diff?from=&to=. Bad input is a 400 with {"error": "<one line>"}.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EventLog } from '../../shared/eventLog.js';
import { runAuditDiff, runAuditHistory, runAuditResolve } from './commands.js';
import { AuditInputError } from './time.js';

export interface AuditRoutesOptions {
  log: EventLog;
  zone: string;
  ttl: number;
  checkpointDir?: string; // the aggregator's read-model checkpoints
}

const PREFIX = '/api/audit/';

// A request handler: true when it answered (the path is under /api/audit/), false to let others try.
export function auditRoutes(opts: AuditRoutesOptions): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://audit');
    if (!url.pathname.startsWith(PREFIX)) return false;
    const q = (key: string) => url.searchParams.get(key) ?? undefined;
    let body = '';
    const out = (s: string) => (body += s);
    const common = { log: opts.log, zone: opts.zone, json: true, checkpointDir: opts.checkpointDir };
    try {
      if (req.method !== 'GET') return send(res, 405, { error: 'use GET' });
      switch (url.pathname.slice(PREFIX.length)) {
        case 'resolve':
          await runAuditResolve({ ...common, ttl: opts.ttl, name: required(q('name'), 'name'), type: q('type'), at: q('at') }, out);
          break;
        case 'history':
          await runAuditHistory({ ...common, target: required(q('target'), 'target'), since: q('since'), until: q('until') }, out);
          break;
        case 'diff':
          await runAuditDiff({ ...common, from: required(q('from'), 'from'), to: required(q('to'), 'to') }, out);
          break;
        default:
          return send(res, 404, { error: `no audit question ${url.pathname}: use resolve, history or diff` });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    } catch (err) {
      const message = (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
      send(res, err instanceof AuditInputError ? 400 : 500, { error: message });
    }
    return true;
  };
}

function required(value: string | undefined, name: string): string {
  if (value === undefined || value === '') throw new AuditInputError(`query parameter ${name} is required`);
  return value;
}

function send(res: ServerResponse, status: number, body: object): true {
  res.writeHead(status, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
  return true;
}
