// One log line for whatever client-node, node-fetch or a sink threw.

import { ApiException } from '@kubernetes/client-node';

function field(x: unknown, name: string): unknown {
  return typeof x === 'object' && x !== null ? (x as Record<string, unknown>)[name] : undefined;
}

// The HTTP status of a failed request: ApiException's `code`, or `statusCode` on a failed watch.
export function statusCodeOf(err: unknown): number | undefined {
  const code = err instanceof ApiException ? err.code : field(err, 'statusCode');
  return typeof code === 'number' ? code : undefined;
}

// The `message` of the Kubernetes Status an ApiException carries (as JSON text).
function statusMessage(body: unknown): string | undefined {
  let status = body;
  if (typeof body === 'string') {
    try {
      status = JSON.parse(body);
    } catch {
      return body.trim() || undefined;
    }
  }
  const message = field(status, 'message');
  return typeof message === 'string' && message !== '' ? message : undefined;
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0] ?? text;
}

export function describeFailure(err: unknown): string {
  const status = statusCodeOf(err);
  // ApiException's own message is several lines of headers; its Status body says more.
  const detail = err instanceof ApiException ? statusMessage(err.body) : err instanceof Error ? err.message || err.name : String(err);
  if (status === undefined) return firstLine(detail ?? 'unknown error');
  return detail ? `HTTP ${status}: ${firstLine(detail)}` : `HTTP ${status}`;
}
