// Settings shared by several commands.
import { parseCidr, parseDnsServer, parseDuration, parseInteger, parseListenAddress, parseZone, type Setting } from './settings.js';

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
];

export const syncTimeoutSetting: Setting = {
  flag: 'sync-timeout',
  arg: 'duration',
  describe: 'a cluster not synced this long after it was first seen stops holding names at SERVFAIL',
  parse: parseDuration,
  default: parseDuration('60s'),
};
