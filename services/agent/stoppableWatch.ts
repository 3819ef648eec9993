// The watch under an informer: client-node's Watch, written again to be
// stopped for good, to ask for bookmarks, and to cost less per event (one
// HTTP request, its body split into lines here, instead of node-fetch and
// readline streams).

import { STATUS_CODES, request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { Watch } from '@kubernetes/client-node';

type WatchArgs = Parameters<Watch['watch']>;
type WatchCallback = WatchArgs[2];

const KEEPALIVE_MS = 30_000; // as client-node: only TCP keepalive notices a dead API server
const NEWLINE = 0x0a;

// A failed watch request, as client-node reports it: the informer re-lists on statusCode 410.
class WatchStatusError extends Error {
  constructor(readonly statusCode: number, statusText: string | undefined) {
    super(statusText || STATUS_CODES[statusCode] || 'Internal Server Error');
  }
}

export class StoppableWatch extends Watch {
  private stopped = false;

  stop(): void {
    this.stopped = true;
  }

  // As Watch.watch: resolves once the response started (done has been called
  // if it failed); done is called once, with an error unless the server ended
  // the stream cleanly; aborting the controller ends it with an AbortError.
  override async watch(path: WatchArgs[0], query: WatchArgs[1], callback: WatchCallback, done: WatchArgs[3]): Promise<AbortController> {
    const controller = new AbortController();
    let request: ClientRequest | undefined;
    let finished = false;
    const finish = (err: unknown): void => {
      if (finished) return;
      finished = true;
      controller.abort();
      request?.destroy();
      done(err);
    };
    controller.signal.addEventListener('abort', () => finish(controller.signal.reason), { once: true });
    try {
      const { url, options } = await this.requestFor(path, query);
      if (controller.signal.aborted) return controller;
      request = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, { ...options, signal: controller.signal });
      request.on('error', finish);
      request.end();
      const response = await responseTo(request);
      if (response.statusCode !== 200) throw new WatchStatusError(response.statusCode ?? 500, response.statusMessage);
      response.socket.setKeepAlive(true, KEEPALIVE_MS);
      response.on('error', finish);
      response.on('close', () => finish(response.complete ? null : new Error('the watch connection closed before its stream ended')));
      readEvents(response, callback);
    } catch (err) {
      // Failures before the response (an exec credential plugin that fails, a refused connection) included.
      finish(err);
    }
    // The informer does not check for stop() between its list and its watch, so
    // a watch can open after stop(); close it, or it would stay open for good.
    if (this.stopped) controller.abort();
    return controller;
  }

  private async requestFor(path: string, query: WatchArgs[1]): Promise<{ url: URL; options: RequestOptions }> {
    const cluster = this.config.getCurrentCluster();
    if (!cluster) throw new Error('No currently active cluster');
    const url = new URL(cluster.server + path);
    url.searchParams.set('watch', 'true');
    // Bookmarks keep the resourceVersion current, so a reconnect resumes instead of re-listing after 410 Gone.
    url.searchParams.set('allowWatchBookmarks', 'true');
    for (const [key, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(key, String(value));
    // The kubeconfig's TLS agent, credentials and headers, as for every client-node request.
    const options: RequestOptions = {};
    await this.config.applyToHTTPSOptions(options);
    return { url, options: { ...options, method: 'GET' } };
  }
}

function responseTo(request: ClientRequest): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    request.once('response', resolve);
    request.once('error', reject);
    request.once('close', () => reject(new Error('the watch request closed before its response')));
  });
}

// One JSON watch event per line; a line that is not JSON is skipped, as client-node does.
function readEvents(response: IncomingMessage, callback: WatchCallback): void {
  let partial: Buffer[] = [];
  const deliver = (line: string): void => {
    let event: { type: string; object: unknown };
    try {
      event = JSON.parse(line);
    } catch {
      return;
    }
    callback(event.type, event.object, event);
  };
  response.on('data', (chunk: Buffer) => {
    let start = 0;
    for (let end = chunk.indexOf(NEWLINE); end !== -1; end = chunk.indexOf(NEWLINE, start)) {
      const line = chunk.subarray(start, end);
      deliver(partial.length === 0 ? line.toString() : Buffer.concat([...partial, line]).toString());
      partial = [];
      start = end + 1;
    }
    if (start < chunk.length) partial.push(chunk.subarray(start));
  });
  response.on('end', () => {
    if (partial.length > 0) deliver(Buffer.concat(partial).toString());
  });
}
