// `mcsdns serve`: agents, aggregator and frontend in one process, joined by
// the embedded event log in the data directory.
import { join } from 'node:path';
import { Agent, eventLogSink } from '../agent/agent.js';
import { parseClusterSpec, type ClusterSpec } from '../agent/clusterSpec.js';
import { loadKubeConfig } from '../agent/kubeconfig.js';
import { Aggregator } from '../aggregator/aggregator.js';
import { Frontend } from '../frontend/server.js';
import { lockDataDir } from '../../shared/dataDir.js';
import type { Logger } from '../../shared/logger.js';
import { SqliteEventLog } from '../../shared/sqliteEventLog.js';
import { parseInteger, parseListenAddress, parseZone, UsageError, type ListenAddress, type Setting } from './settings.js';

export const serveSettings: Setting[] = [
  { flag: 'zone', arg: 'zone', describe: 'zone to answer authoritatively', repeatable: true, parse: parseZone, default: ['clusterset.local'] },
  {
    flag: 'cluster',
    arg: 'id=kubeconfig[@context]',
    describe: 'member cluster to watch: its id (an RFC 1123 label), kubeconfig file and optional context',
    repeatable: true,
    required: true,
    parse: (v) => {
      try {
        return parseClusterSpec(v);
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
    },
  },
  { flag: 'dns-listen', arg: 'host:port', describe: 'address for DNS over UDP and TCP', parse: parseListenAddress, default: parseListenAddress('127.0.0.1:5353') },
  { flag: 'data-dir', arg: 'dir', describe: 'directory for the event log and the read model', default: '.mcsdns' },
  { flag: 'ttl', arg: 'seconds', describe: 'TTL of every answer and the SOA minimum', parse: parseInteger(0, 3600), default: 5 },
  { flag: 'no-endpoints', describe: 'do not watch EndpointSlices: headless and endpoint names are NXDOMAIN', default: false },
];

export interface ServeOptions {
  zone: string[];
  cluster: ClusterSpec[];
  dnsListen: ListenAddress;
  dataDir: string;
  ttl: number;
  noEndpoints: boolean;
}

export interface Running {
  stop(): Promise<void>;
}

export async function serve(o: ServeOptions, logger: Logger): Promise<Running> {
  const ids = o.cluster.map((c) => c.id);
  const dup = ids.find((id, i) => ids.indexOf(id) !== i);
  if (dup) throw new UsageError(`cluster id ${dup} is given twice`);
  // Every kubeconfig is checked before anything is opened.
  const kubeConfigs = o.cluster.map((c) => loadKubeConfig({ kubeconfig: c.kubeconfig, context: c.context }));

  const unlock = lockDataDir(o.dataDir);
  const stops: (() => Promise<void> | void)[] = [unlock];
  const stop = async () => {
    for (const s of stops.reverse()) {
      try {
        await s();
      } catch (err) {
        logger.warn({ err }, 'error while stopping');
      }
    }
  };
  try {
    const log = SqliteEventLog.open(join(o.dataDir, 'events.db'));
    stops.push(() => log.close());
    const aggregator = Aggregator.open({ log, dbPath: join(o.dataDir, 'readmodel.db'), expectedClusters: ids, logger: logger.child({ service: 'aggregator' }) });
    await aggregator.start();
    stops.push(() => aggregator.stop());

    const frontend = new Frontend(aggregator, { zones: o.zone, listen: o.dnsListen, ttl: o.ttl, logger: logger.child({ service: 'frontend' }) });
    await frontend.start();
    stops.push(() => frontend.stop());

    const sink = eventLogSink(log);
    for (const [i, c] of o.cluster.entries()) {
      const agent = new Agent({
        clusterId: c.id,
        kubeConfig: kubeConfigs[i]!,
        noEndpoints: o.noEndpoints,
        sink,
        logger: logger.child({ service: 'agent', cluster: c.id }),
      });
      await agent.start();
      stops.push(() => agent.stop());
    }
    logger.info({ zones: o.zone, dns: frontend.address, clusters: ids, dataDir: o.dataDir }, 'mcsdns serving');
    return { stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
