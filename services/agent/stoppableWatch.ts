// client-node's Watch, fixed for informers that an agent stops and restarts.

import { Watch } from '@kubernetes/client-node';

type WatchArgs = Parameters<Watch['watch']>;

export class StoppableWatch extends Watch {
  private stopped = false;

  stop(): void {
    this.stopped = true;
  }

  override async watch(path: WatchArgs[0], query: WatchArgs[1], callback: WatchArgs[2], done: WatchArgs[3]): Promise<AbortController> {
    let request: AbortController;
    try {
      request = await super.watch(path, query, callback, done);
    } catch (err) {
      // Failures before the request (an exec credential plugin that fails) reject
      // a promise the informer does not always await; report them as a failed watch.
      done(err);
      return new AbortController();
    }
    // The informer does not check for stop() between its list and its watch, so
    // a watch can open after stop(); close it, or it would stay open for good.
    if (this.stopped) request.abort();
    return request;
  }
}
