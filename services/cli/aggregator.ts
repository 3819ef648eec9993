// `mcsdns aggregator`: projects the JetStream event log into its SQLite read
// model and publishes the DNS view (snapshots and deltas) for frontends.
import { lockFile } from '../../shared/dataDir.js';
import { isClusterId } from '../../shared/events.js';
import { JetStreamEventLog } from '../../shared/jetstreamEventLog.js';
import type { Logger } from '../../shared/logger.js';
import { connectNats } from '../../shared/nats.js';
import { NatsViewPublisher } from '../../shared/viewDistribution.js';
import { auditRoutes } from '../audit/http.js';
import { checkpointSettings, httpListenSetting, syncTimeoutSetting, ttlSetting, zoneSetting } from './commonSettings.js';
import { startAggregator } from './components.js';
import { Stack, type Running } from './lifecycle.js';
import { Observability } from './observability.js';
import { natsOptions, natsSettings } from './natsSettings.js';
import { parseDuration, parseInteger, UsageError, type ListenAddress, type Setting, type SettingValues } from './settings.js';

export const aggregatorSettings: Setting[] = [
  { flag: 'db', arg: 'path', describe: 'SQLite file of the read model (created if missing)', required: true },
  httpListenSetting,
  { ...zoneSetting, describe: 'zone whose names the audit API (/api/audit/… on --http-listen) answers' },
  { ...ttlSetting, describe: 'TTL in the audit API answers' },
  {
    flag: 'expect-cluster',
    arg: 'id',
    describe: 'a cluster counted as not yet synced until its agent finished a first sync, even before it published anything',
    repeatable: true,
    default: [],
    parse: (v) => {
      if (!isClusterId(v)) throw new UsageError(`cluster id ${JSON.stringify(v)} is not an RFC 1123 label`);
      return v;
    },
  },
  syncTimeoutSetting,
  ...checkpointSettings,
  { flag: 'event-retention', arg: 'duration', describe: 'how long the event stream keeps events (for audits)', parse: parseDuration, default: parseDuration('30d') },
  { flag: 'dedup-window', arg: 'duration', describe: 'JetStream duplicate window for event ids', parse: parseDuration, default: parseDuration('2m') },
  { flag: 'replicas', arg: 'n', describe: 'stream replicas (3 in a NATS cluster)', parse: parseInteger(1, 5), default: 1 },
  { flag: 'snapshot-every', arg: 'deltas', describe: 'publish a full view snapshot every N deltas (and --snapshot-interval after a change)', parse: parseInteger(1, 10_000_000), default: 10_000 },
  { flag: 'snapshot-interval', arg: 'duration', describe: '… or at most this long after a change', parse: parseDuration, default: parseDuration('30s') },
  ...natsSettings(true),
];

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
