// Every command's settings, light to load: --help and the checks of every
// setting need them all; a command's own code loads only when it runs.
import { parseClusterSpec } from '../agent/clusterSpec.js';
import { isClusterId } from '../../shared/events.js';
import {
  checkpointSettings,
  dnsListenSetting,
  dnsOptionSettings,
  httpListenSetting,
  noEndpointsSetting,
  syncTimeoutSetting,
  ttlSetting,
  zoneSetting,
} from './commonSettings.js';
import { natsSettings } from './natsSettings.js';
import { parseDuration, parseInteger, UsageError, type Setting } from './settings.js';

export const serveSettings: Setting[] = [
  zoneSetting,
  {
    flag: 'cluster',
    arg: 'id=kubeconfig[@context]',
    describe: 'member cluster to watch: its id (an RFC 1123 label), kubeconfig file and optional context',
    repeatable: true,
    default: [],
    parse: (v) => {
      try {
        return parseClusterSpec(v);
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
    },
  },
  dnsListenSetting,
  { flag: 'data-dir', arg: 'dir', describe: 'directory for the event log (embedded mode) and the read model', default: '.mcsdns' },
  ttlSetting,
  noEndpointsSetting,
  ...dnsOptionSettings,
  syncTimeoutSetting,
  ...checkpointSettings,
  { flag: 'corefile', arg: 'path', describe: "take zones, clusters and options from a CoreDNS Corefile's multicluster stanza (flags win)" },
  httpListenSetting,
  ...natsSettings(false).map((s) => (s.flag === 'nats' ? { ...s, describe: 'use this NATS JetStream as the event log instead of the embedded one' } : s)),
];

export const agentSettings: Setting[] = [
  {
    flag: 'cluster-id',
    arg: 'id',
    describe: 'id of the member cluster: an RFC 1123 label (it becomes a DNS label and a NATS subject token)',
    required: true,
    parse: (v) => {
      if (!isClusterId(v)) throw new UsageError(`cluster id ${JSON.stringify(v)} is not an RFC 1123 label (lower-case letters, digits and '-', at most 63)`);
      return v;
    },
  },
  { flag: 'kubeconfig', arg: 'path', describe: 'kubeconfig file of the cluster' },
  { flag: 'context', arg: 'name', describe: 'context of the kubeconfig to use (default: its current context)' },
  { flag: 'in-cluster', describe: 'use the service account of the pod the agent runs in', default: false },
  noEndpointsSetting,
  httpListenSetting,
  ...natsSettings(true),
];

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

export const frontendSettings: Setting[] = [
  zoneSetting,
  dnsListenSetting,
  ttlSetting,
  httpListenSetting,
  ...dnsOptionSettings,
  { flag: 'max-staleness', arg: 'duration', describe: 'not ready (/readyz) when the aggregator has not been heard from for this long; answers go on', parse: parseDuration, default: parseDuration('30s') },
  { flag: 'workers', arg: 'n', describe: 'answer from N processes sharing the DNS port, each following the view (a dead one is replaced)', parse: parseInteger(1, 64), default: 1 },
  ...natsSettings(true),
];

// `mcsdns replay` and `mcsdns audit resolve|history|diff`.
const logSettings: Setting[] = [
  { flag: 'data-dir', arg: 'dir', describe: 'data directory of `mcsdns serve` holding the embedded event log (events.db)' },
  ...natsSettings(false).map((s) => (s.flag === 'nats' ? { ...s, describe: 'read the JetStream event log instead' } : s)),
];
const jsonSetting: Setting = { flag: 'json', describe: 'print JSON instead of text', default: false };
const checkpointDirSetting = (point: string): Setting => ({
  flag: 'checkpoint-dir',
  arg: 'dir',
  describe: `start from the newest read-model checkpoint in this directory at or before ${point} (default with --data-dir: DIR/checkpoints)`,
});

export const replaySettings: Setting[] = [
  { flag: 'to', arg: 'time|seq', describe: 'the moment: RFC 3339, now, -15m/-2d, or an event sequence (digits or #digits)', required: true },
  { flag: 'db', arg: 'path', describe: 'new SQLite file for the rebuilt read model', required: true },
  { flag: 'force', describe: 'overwrite the --db file when it exists', default: false },
  checkpointDirSetting('--to'),
  ...logSettings,
];
export const auditResolveSettings: Setting[] = [
  { flag: 'at', arg: 'time|seq', describe: 'the moment (default: now)' },
  zoneSetting,
  ttlSetting,
  jsonSetting,
  checkpointDirSetting('--at'),
  ...logSettings,
];
export const historySettings: Setting[] = [
  { flag: 'since', arg: 'time|seq', describe: 'from this moment on (default: the first retained event)' },
  { flag: 'until', arg: 'time|seq', describe: 'up to this moment (default: now)' },
  zoneSetting,
  jsonSetting,
  checkpointDirSetting('--since'),
  ...logSettings,
];
export const diffSettings: Setting[] = [
  { flag: 'from', arg: 'time|seq', describe: 'the earlier moment', required: true },
  { flag: 'to', arg: 'time|seq', describe: 'the later moment', required: true },
  zoneSetting,
  jsonSetting,
  checkpointDirSetting('--from'),
  ...logSettings,
];