// `mcsdns serve`: agents, aggregator and frontend in one process, joined by
// the embedded event log in the data directory, or by JetStream with --nats
// (then frontends elsewhere can follow the same view).
import { join } from 'node:path';
import type { ClusterSpec } from '../agent/clusterSpec.js';
import { loadAgent } from './agent.js';
import { lockDataDir } from '../../shared/dataDir.js';
import type { EventLog } from '../../shared/eventLog.js';
import { JetStreamEventLog } from '../../shared/jetstreamEventLog.js';
import type { Logger } from '../../shared/logger.js';
import { connectNats } from '../../shared/nats.js';
import { SqliteEventLog } from '../../shared/sqliteEventLog.js';
import { NatsViewPublisher } from '../../shared/viewDistribution.js';
import { Stack, type Running } from './lifecycle.js';
import { Observability } from './observability.js';
import { agentMetrics } from '../../shared/metrics.js';
import { natsOptions } from './natsSettings.js';
import { auditRoutes } from '../audit/http.js';
import { startAggregator, startFrontend } from './components.js';
import { UsageError, type ListenAddress, type SettingValues } from './settings.js';

export interface ServeOptions {
  zone: string[];
  cluster: ClusterSpec[];
  dnsListen: ListenAddress;
  dataDir: string;
  ttl: number;
  noEndpoints: boolean;
  nats?: string[];
}

export async function serve(o: ServeOptions & SettingValues, logger: Logger): Promise<Running> {
  if (o.cluster.length === 0) throw new UsageError('--cluster is required (or MCSDNS_CLUSTER, "cluster" in --config, or a --corefile)');
  const ids = o.cluster.map((c) => c.id);
  const dup = ids.find((id, i) => ids.indexOf(id) !== i);
  if (dup) throw new UsageError(`cluster id ${dup} is given twice`);
  const { Agent, eventLogSink, loadKubeConfig } = await loadAgent();
  // Every kubeconfig is checked before anything is opened.
  const kubeConfigs = o.cluster.map((c) => loadKubeConfig({ kubeconfig: c.kubeconfig, context: c.context }));
  const natsOpts = o.nats ? natsOptions(o, 'mcsdns-serve') : undefined;

  const obs = new Observability();
  return new Stack(logger).build(async (stack) => {
    stack.add(lockDataDir(o.dataDir));
    await obs.serve(stack, o.httpListen as ListenAddress | undefined, logger);
    let log: EventLog;
    const nc = natsOpts ? await connectNats(natsOpts, logger.child({ service: 'nats' })) : undefined;
    if (nc) {
      stack.add(() => nc.close());
      log = await JetStreamEventLog.open(nc, { prefix: o.natsPrefix as string });
    } else {
      log = SqliteEventLog.open(join(o.dataDir, 'events.db'));
    }
    stack.add(() => log.close());

    obs.route(auditRoutes({ log, zone: o.zone[0]!, ttl: o.ttl, checkpointDir: join(o.dataDir, 'checkpoints') }));
    const aggregator = await startAggregator(log, join(o.dataDir, 'readmodel.db'), join(o.dataDir, 'checkpoints'), ids, o, obs, stack, logger);
    if (nc) {
      const publisher = await NatsViewPublisher.start(nc, aggregator, { prefix: o.natsPrefix as string }, logger.child({ service: 'publisher' }));
      stack.add(() => publisher.stop());
    }

    const frontend = await startFrontend(aggregator, o, obs, stack, logger);

    const sink = eventLogSink(log);
    for (const [i, c] of o.cluster.entries()) {
      const agent = new Agent({
        clusterId: c.id,
        kubeConfig: kubeConfigs[i]!,
        noEndpoints: o.noEndpoints,
        sink,
        logger: logger.child({ service: 'agent', cluster: c.id }),
        metrics: agentMetrics(obs.registry),
      });
      obs.check(`agent ${c.id}`, () => agent.readiness());
      await agent.start();
      stack.add(() => agent.stop());
    }
    logger.info({ zones: o.zone, dns: frontend.address, clusters: ids, dataDir: o.dataDir, log: nc ? 'jetstream' : 'embedded' }, 'mcsdns serving');
  });
}
