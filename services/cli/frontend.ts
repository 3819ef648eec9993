// `mcsdns frontend`: answers DNS from the view it follows over NATS. It needs
// nothing but read access to NATS: no database, no Kubernetes credentials.
// With --workers N, N such processes share the DNS port (workers.ts).
import cluster from 'node:cluster';
import type { Readiness } from '../../shared/httpServer.js';
import type { Logger } from '../../shared/logger.js';
import { connectNats } from '../../shared/nats.js';
import { NatsViewFeed } from '../../shared/natsViewFeed.js';
import { Stack, type Running } from './lifecycle.js';
import { Observability, stalenessCheck } from './observability.js';
import { natsOptions } from './natsSettings.js';
import { startFrontend } from './components.js';
import type { ListenAddress, SettingValues } from './settings.js';

// workers.ts loads prom-client, which a single frontend loads only for metrics read over HTTP.
const workers = () => import('./workers.js');

export async function runFrontend(o: SettingValues, logger: Logger): Promise<Running> {
  const httpListen = o.httpListen as ListenAddress | undefined;
  if ((o.workers as number) > 1 && !cluster.isWorker) return (await workers()).runWorkers(o.workers as number, httpListen, logger);
  const nats = natsOptions(o, 'mcsdns-frontend');
  const obs = new Observability();
  return new Stack(logger).build(async (stack) => {
    if (!cluster.isWorker) await obs.serve(stack, httpListen, logger); // a worker's primary serves HTTP for all
    const nc = await connectNats(nats, logger.child({ service: 'nats' }));
    stack.add(() => nc.close());
    const feed = await NatsViewFeed.start(nc, { prefix: o.natsPrefix as string }, logger.child({ service: 'feed' }));
    stack.add(() => feed.stop());
    const fresh = stalenessCheck(() => feed.stalenessMs, o.maxStaleness as number);
    obs.check('view feed', fresh);
    const frontend = await startFrontend(feed, o, obs, stack, logger);
    if (cluster.isWorker) (await workers()).reportToPrimary(obs.registry, frontend.address, () => firstFailing([fresh(), frontend.readiness()]), stack);
    logger.info({ dns: frontend.address, zones: o.zone, version: frontend.version }, 'mcsdns frontend running');
  });
}

const firstFailing = (readiness: Readiness[]): Readiness => readiness.find((r) => !r.ok) ?? { ok: true };
