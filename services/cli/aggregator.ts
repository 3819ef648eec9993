// `mcsdns aggregator`: projects the JetStream event log into its SQLite read
// model and publishes the DNS view (snapshots and deltas) for frontends.
import { lockFile } from '../../shared/dataDir.js';
import { JetStreamEventLog } from '../../shared/jetstreamEventLog.js';
import type { Logger } from '../../shared/logger.js';
import { connectNats } from '../../shared/nats.js';
import { NatsViewPublisher } from '../../shared/viewDistribution.js';
import { auditRoutes } from '../audit/http.js';
import { startAggregator } from './components.js';
import { Stack, type Running } from './lifecycle.js';
import { Observability } from './observability.js';
import { natsOptions } from './natsSettings.js';
import type { ListenAddress, SettingValues } from './settings.js';

export async function runAggregator(o: SettingValues, logger: Logger): Promise<Running> {
  const nats = natsOptions(o, 'mcsdns-aggregator');
  const dbPath = o.db as string;
  const obs = new Observability();
  return new Stack(logger).build(async (stack) => {
    stack.add(lockFile(`${dbPath}.lock`, `read model ${dbPath}`));
    await obs.serve(stack, o.httpListen as ListenAddress | undefined, logger);
    const nc = await connectNats(nats, logger.child({ service: 'nats' }));
    stack.add(() => nc.close());
    const prefix = o.natsPrefix as string;
    const log = await JetStreamEventLog.open(nc, {
      prefix,
      retentionMs: o.eventRetention as number,
      duplicateWindowMs: o.dedupWindow as number,
      replicas: o.replicas as number,
    });
    stack.add(() => log.close());
    obs.route(auditRoutes({ log, zone: (o.zone as string[])[0]!, ttl: o.ttl as number, checkpointDir: `${dbPath}.checkpoints` }));
    const aggregator = await startAggregator(log, dbPath, `${dbPath}.checkpoints`, o.expectCluster as string[], o, obs, stack, logger);
    const publisher = await NatsViewPublisher.start(
      nc,
      aggregator,
      { prefix, snapshotEvery: o.snapshotEvery as number, snapshotIntervalMs: o.snapshotInterval as number, replicas: o.replicas as number },
      logger.child({ service: 'publisher' }),
    );
    stack.add(() => publisher.stop());
    logger.info({ db: dbPath, lastApplied: aggregator.lastApplied }, 'mcsdns aggregator running');
  });
}
