// Settings shared by several commands.
import { parseInteger, parseListenAddress, parseZone, type Setting } from './settings.js';

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
