// Starting the aggregator and the frontend the same way in every command.
import type { Aggregator } from '../aggregator/aggregator.js';
import { Frontend, type FrontendOptions } from '../frontend/server.js';
import type { EventLog } from '../../shared/eventLog.js';
import type { Logger } from '../../shared/logger.js';
import { aggregatorMetrics, frontendMetrics } from '../../shared/metrics.js';
import type { ViewFeed } from '../../shared/view.js';
import { checkpointOptions, type ViewSpec } from './commonSettings.js';
import type { Stack } from './lifecycle.js';
import type { Observability } from './observability.js';
import type { ListenAddress, SettingValues } from './settings.js';

export function frontendOptions(o: SettingValues, logger: Logger): FrontendOptions {
  const out: FrontendOptions = {
    zones: o.zone as string[],
    listen: o.dnsListen as ListenAddress,
    ttl: o.ttl as number,
    startupTimeoutMs: o.startupTimeout as number,
    answers: { rotate: !(o.noRoundRobin as boolean), preferOwnCluster: o.preferOwnCluster as boolean, ...(o.maxEndpoints !== undefined ? { maxEndpoints: o.maxEndpoints as number } : {}) },
    logger: logger.child({ service: 'frontend' }),
  };
  if (o.fallthrough !== undefined) out.fallthrough = { zones: o.fallthrough as string[] };
  if ((o.upstream as ListenAddress[]).length > 0) out.upstreams = o.upstream as ListenAddress[];
  if ((o.allowTransfer as string[]).length > 0) out.allowTransfer = o.allowTransfer as string[];
  if ((o.view as ViewSpec[]).length > 0) out.views = o.view as ViewSpec[];
  if ((o.trustEcs as string[]).length > 0) out.trustEcs = o.trustEcs as string[];
  return out;
}

export async function startFrontend(feed: ViewFeed, o: SettingValues, obs: Observability, stack: Stack, logger: Logger): Promise<Frontend> {
  const frontend = new Frontend(feed, frontendOptions(o, logger));
  obs.check('frontend', () => frontend.readiness());
  await frontend.start();
  stack.add(() => frontend.stop());
  // Metrics (prom-client takes 60–100 ms to load) only where they are read,
  // over HTTP (a worker's through its primary), and once the frontend answers.
  if (o.httpListen !== undefined) frontend.measure(frontendMetrics(obs.registry));
  return frontend;
}

export async function startAggregator(
  log: EventLog,
  dbPath: string,
  checkpointDir: string,
  expectedClusters: string[],
  o: SettingValues,
  obs: Observability,
  stack: Stack,
  logger: Logger,
): Promise<Aggregator> {
  // Loaded here, not above: a frontend runs without SQLite and the read model's code.
  const { Aggregator } = await import('../aggregator/aggregator.js');
  const aggregator = Aggregator.open({
    log,
    dbPath,
    expectedClusters,
    syncTimeoutMs: o.syncTimeout as number,
    ...(checkpointOptions(o, checkpointDir) ? { checkpoints: checkpointOptions(o, checkpointDir)! } : {}),
    logger: logger.child({ service: 'aggregator' }),
    metrics: aggregatorMetrics(obs.registry),
  });
  obs.check('aggregator', () => aggregator.readiness());
  await aggregator.start();
  stack.add(() => aggregator.stop());
  return aggregator;
}
