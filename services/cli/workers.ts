// `mcsdns frontend --workers N`: N processes (node:cluster) answering from the
// same UDP and TCP sockets, each following the view on its own. The primary
// only forks them, replaces one that dies, and serves HTTP for all of them.
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import { backoffDelay, type BackoffOptions } from '../../shared/backoff.js';
import type { Readiness } from '../../shared/httpServer.js';
import type { Logger } from '../../shared/logger.js';
import { Stack, type Running } from './lifecycle.js';
import { Observability } from './observability.js';
import type { ListenAddress } from './settings.js';

const RESTART: BackoffOptions = { initialMs: 100, maxMs: 5000 };
const READINESS_EVERY_MS = 1000;

// What a worker tells the primary.
type WorkerMessage = { type: 'mcsdns:listening'; address: ListenAddress } | { type: 'mcsdns:readiness'; readiness: Readiness };

export const isWorker = (): boolean => cluster.isWorker;

// In a worker: its metrics go to the primary on request, and it reports
// that it listens, then its readiness every second.
export function reportToPrimary(registry: Registry, address: ListenAddress, readiness: () => Readiness, stack: Stack): void {
  new AggregatorRegistry(); // answers the primary's metric requests from here on
  AggregatorRegistry.setRegistries([registry]);
  const send = (message: WorkerMessage): void => {
    if (process.connected) process.send!(message);
  };
  send({ type: 'mcsdns:listening', address });
  const report = (): void => send({ type: 'mcsdns:readiness', readiness: readiness() });
  report();
  const timer = setInterval(report, READINESS_EVERY_MS);
  timer.unref();
  stack.add(() => clearInterval(timer));
}

interface Slot {
  worker: Worker;
  readiness: Readiness;
  listened: boolean;
}

// In the primary: forks `count` workers (they run this command again) and
// resolves once every one listens; one that exits before fails the start.
export async function runWorkers(count: number, httpListen: ListenAddress | undefined, logger: Logger): Promise<Running> {
  const slots: Slot[] = [];
  let stopping = false;
  const restarts = new Set<NodeJS.Timeout>();
  const obs = new Observability();
  const metrics = new AggregatorRegistry();
  obs.check('workers', () => workersReadiness(slots, count));
  obs.route(async (req, res) => {
    if (new URL(req.url ?? '/', 'http://localhost').pathname !== '/metrics') return false;
    const text = await metrics.clusterMetrics();
    res.writeHead(200, { 'content-type': metrics.contentType }).end(req.method === 'HEAD' ? undefined : text);
    return true;
  });

  let address: ListenAddress | undefined;
  // `failures`: workers of this slot that died before they listened, in a row (the
  // restart backoff). `started`: a first worker, whose start the command waits for.
  const fork = (index: number, failures: number, started?: (err?: Error) => void): void => {
    const worker = cluster.fork();
    const slot: Slot = { worker, readiness: { ok: false, reason: 'starting' }, listened: false };
    slots[index] = slot;
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'mcsdns:listening') {
        address = message.address;
        slot.listened = true;
        started?.();
      } else if (message.type === 'mcsdns:readiness') {
        slot.readiness = message.readiness;
      }
    });
    worker.once('exit', (code, signal) => {
      slot.readiness = { ok: false, reason: 'exited' };
      if (started && !slot.listened) return started(new Error(`frontend worker ${index + 1} exited (${signal ?? code}) before it listened`));
      if (stopping) return;
      const next = slot.listened ? 0 : failures + 1;
      const delay = backoffDelay(next, RESTART);
      logger.warn({ worker: index + 1, pid: worker.process.pid, code, signal, restartInMs: delay }, 'frontend worker died; starting another');
      const timer = setTimeout(() => {
        restarts.delete(timer);
        if (!stopping) fork(index, next);
      }, delay);
      restarts.add(timer);
    });
  };

  const stack = new Stack(logger);
  stack.add(async () => {
    stopping = true;
    for (const timer of restarts) clearTimeout(timer);
    await Promise.all(slots.map((slot) => stopWorker(slot.worker)));
  });
  return stack.build(async () => {
    await obs.serve(stack, httpListen, logger);
    // As long as the workers wait (for NATS, say), so does the primary.
    await Promise.all(Array.from({ length: count }, (_, i) => new Promise<void>((resolve, reject) => fork(i, 0, (err) => (err ? reject(err) : resolve())))));
    logger.info({ workers: count, dns: address }, 'mcsdns frontend workers running');
  });
}

function workersReadiness(slots: Slot[], count: number): Readiness {
  const notReady = slots.filter((s) => !s.readiness.ok);
  if (slots.length < count || notReady.length > 0) return { ok: false, reason: `${Math.max(notReady.length, count - slots.length)} of ${count} workers not ready: ${notReady[0]?.readiness.reason ?? 'starting'}` };
  return { ok: true };
}

function stopWorker(worker: Worker): Promise<void> {
  if (worker.isDead()) return Promise.resolve();
  return new Promise((resolve) => {
    worker.once('exit', () => resolve());
    worker.process.kill('SIGTERM');
  });
}
