// A KindWatch lists page by page: each page is published as it arrives, the
// whole list is one sync epoch, and a list that fails halfway leaves its epoch
// unfinished (the aggregator drops nothing for it) and is listed again whole.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubernetesObject } from '@kubernetes/client-node';
import { StandInApiServer } from './k8s/apiServer.js';
import { KindWatch } from '../services/agent/kindWatch.js';
import { loadKubeConfig } from '../services/agent/kubeconfig.js';
import { PublishQueue } from '../services/agent/publishQueue.js';
import type { KindSource, ListPage } from '../services/agent/sources.js';
import type { ChangeEvent } from '../shared/events.js';
import { silentLogger } from '../shared/logger.js';

const fastBackoff = { initialMs: 20, maxMs: 100 };
const namespace = (name: string, resourceVersion: string): KubernetesObject => ({ metadata: { name, uid: `uid-${name}`, resourceVersion } });

let server: StandInApiServer;
let dir: string;
before(async () => {
  server = await StandInApiServer.start();
  dir = mkdtempSync(join(tmpdir(), 'mcsdns-pages-'));
  server.writeKubeconfig(join(dir, 'kubeconfig'));
});
after(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function waitFor(what: string, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

// Namespaces in pages of two; the page asked for with `failOnce` fails the first time.
function pagedSource(names: string[], failOnce?: string): KindSource & { requests: (string | undefined)[] } {
  const requests: (string | undefined)[] = [];
  return {
    kind: 'Namespace',
    path: '/api/v1/namespaces',
    requests,
    async listPage(token): Promise<ListPage> {
      requests.push(token);
      if (token !== undefined && token === failOnce) {
        failOnce = undefined;
        throw new Error('page lost');
      }
      const from = token === undefined ? 0 : Number(token);
      const next = from + 2 < names.length ? String(from + 2) : undefined;
      return { items: names.slice(from, from + 2).map((n) => namespace(n, '1')), resourceVersion: '1', continueToken: next };
    },
  };
}

function watchWith(source: KindSource): { events: ChangeEvent[]; synced: Promise<void>; watch: KindWatch } {
  const events: ChangeEvent[] = [];
  let epoch = 0;
  let onSynced!: () => void;
  const synced = new Promise<void>((resolve) => (onSynced = resolve));
  const queue = new PublishQueue({ publish: async (batch) => void events.push(...batch) }, silentLogger, fastBackoff);
  const watch = new KindWatch(source, {
    clusterId: 'east',
    kinds: ['Namespace'],
    kubeConfig: loadKubeConfig({ kubeconfig: join(dir, 'kubeconfig') }),
    queue,
    logger: silentLogger,
    backoff: fastBackoff,
    nextEpoch: () => ++epoch,
    onFirstSync: () => onSynced(),
    onWatchRestart: () => {},
  });
  watch.start();
  return { events, synced, watch };
}

const label = (e: ChangeEvent) => `${e.epoch} ${e.op}${'name' in e ? ` ${e.name}` : ''}`;
// The events up to the first sync-end: what the lists published, before the watch adds anything.
const listed = (events: ChangeEvent[]) => events.slice(0, events.findIndex((e) => e.op === 'sync-end') + 1).map(label);

describe('listing in pages', { timeout: 10_000 }, () => {
  it('publishes every page in one epoch, then watches from the list’s version', async () => {
    const source = pagedSource(['a', 'b', 'c', 'd', 'e']);
    const { events, synced, watch } = watchWith(source);
    await synced;
    assert.deepEqual(source.requests, [undefined, '2', '4']);
    assert.deepEqual(listed(events), ['1 sync-begin', '1 upsert a', '1 upsert b', '1 upsert c', '1 upsert d', '1 upsert e', '1 sync-end']);
    await server.waitForWatches(1, 'Namespace');
    server.upsert({ kind: 'Namespace', metadata: { name: 'f' } });
    await waitFor('the watched namespace', () => events.some((e) => e.op === 'upsert' && e.name === 'f'));
    await watch.stop();
  });

  it('after a page fails, lists again from the first page as a new epoch; the failed one never ends', async () => {
    const source = pagedSource(['a', 'b', 'c', 'd'], '2');
    const { events, synced, watch } = watchWith(source);
    await synced;
    assert.deepEqual(source.requests, [undefined, '2', undefined, '2']);
    assert.deepEqual(listed(events), ['1 sync-begin', '1 upsert a', '1 upsert b', '2 sync-begin', '2 upsert a', '2 upsert b', '2 upsert c', '2 upsert d', '2 sync-end']);
    await watch.stop();
  });
});
