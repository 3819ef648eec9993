// Settings shared by several commands.
import { isClusterId } from '../../shared/events.js';
import { parseCidr, parseDnsServer, parseDuration, parseInteger, parseListenAddress, parseZone, UsageError, type Setting, type SettingValues } from './settings.js';

export const zoneSetting: Setting = {
  flag: 'zone',
  arg: 'zone',
  describe: 'zone to answer authoritatively',
  repeatable: true,
  parse: parseZone,
  default: ['clusterset.local'],
};
export const dnsListenSetting: Setting = {
  flag: 'dns-listen',
  arg: 'host:port',
  describe: 'address for DNS over UDP and TCP',
  parse: parseListenAddress,
  default: parseListenAddress('127.0.0.1:5353'),
};
export const ttlSetting: Setting = { flag: 'ttl', arg: 'seconds', describe: 'TTL of every answer and the SOA minimum', parse: parseInteger(0, 3600), default: 5 };
export const noEndpointsSetting: Setting = {
  flag: 'no-endpoints',
  describe: 'do not watch EndpointSlices: headless and endpoint names are NXDOMAIN',
  default: false,
};

export const httpListenSetting: Setting = {
  flag: 'http-listen',
  arg: 'host:port',
  describe: 'address for HTTP /healthz, /readyz and /metrics (off when not given)',
  parse: parseListenAddress,
};

// The CoreDNS plugin's options, on serve and frontend.
export const dnsOptionSettings: Setting[] = [
  {
    flag: 'fallthrough',
    arg: 'zone',
    describe: 'forward what would be NXDOMAIN in these zones (every zone when none is listed) to --upstream',
    repeatable: true,
    optionalValues: true,
    parse: parseZone,
  },
  { flag: 'upstream', arg: 'host[:port]', describe: 'DNS server(s) for fallthrough and for names outside every zone (else REFUSED)', repeatable: true, parse: parseDnsServer, default: [] },
  { flag: 'allow-transfer', arg: 'cidr', describe: 'networks allowed zone transfers (AXFR/IXFR over TCP); others are REFUSED', repeatable: true, parse: parseCidr, default: [] },
  { flag: 'startup-timeout', arg: 'duration', describe: 'how long to wait for a first view before opening the DNS port', parse: parseDuration, default: parseDuration('5s') },
  { flag: 'max-endpoints', arg: 'n', describe: 'answer at most N records per A, AAAA or SRV answer: a rotating subset of a large headless service', parse: parseInteger(1, 10000) },
  { flag: 'no-round-robin', describe: 'keep records in a fixed order instead of rotating them per query', default: false },
  {
    flag: 'prefer-own-cluster',
    describe: 'clients of a --view get the endpoints of their own cluster first (each group rotated on its own)',
    default: false,
    needs: { flag: 'view', why: "it orders the answers of a view's clients" },
  },
  {
    flag: 'view',
    arg: 'cluster=cidr[,cidr…]',
    describe: "clients from these networks get that importing cluster's view: its ClusterSetIPs and only the endpoints it imports",
    repeatable: true,
    parse: (v) => parseViewSpec(v),
    default: [],
  },
  { flag: 'trust-ecs', arg: 'cidr', describe: 'clients whose EDNS Client Subnet decides their view (e.g. CoreDNS forwarders)', repeatable: true, parse: parseCidr, default: [] },
];

export const syncTimeoutSetting: Setting = {
  flag: 'sync-timeout',
  arg: 'duration',
  describe: 'a cluster not synced this long after it was first seen stops holding names at SERVFAIL',
  parse: parseDuration,
  default: parseDuration('60s'),
};

export interface ViewSpec {
  cluster: string;
  networks: string[];
}

// CLUSTER=CIDR[,CIDR…]
export function parseViewSpec(v: string): ViewSpec {
  const eq = v.indexOf('=');
  const cluster = v.slice(0, eq).trim();
  if (eq < 1 || !isClusterId(cluster)) throw new UsageError(`expected CLUSTER=CIDR[,CIDR…] with a cluster id (an RFC 1123 label), got ${JSON.stringify(v)}`);
  const networks = v.slice(eq + 1).split(',').map((n) => parseCidr(n));
  return { cluster, networks };
}

// Read-model checkpoints for audits, on the aggregator and serve.
export const checkpointSettings: Setting[] = [
  { flag: 'checkpoint-every', arg: 'events', describe: 'copy the read model every N events, for fast audits of old moments (0: never)', parse: parseInteger(0, 1_000_000_000), default: 10_000 },
  { flag: 'checkpoint-keep', arg: 'n', describe: 'how many checkpoints to keep (the newest)', parse: parseInteger(1, 10_000), default: 10 },
];

export function checkpointOptions(o: SettingValues, dir: string): { dir: string; every: number; keep: number } | undefined {
  const every = o.checkpointEvery as number;
  return every > 0 ? { dir, every, keep: o.checkpointKeep as number } : undefined;
}
