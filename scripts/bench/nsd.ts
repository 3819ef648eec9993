// NSD (Debian nsd 4.x) serving one zone file from a temporary directory,
// in the foreground, as the current user, on one CPU.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnPinned, type Child } from './processes.js';

export function nsdConfig(dir: string, port: number, zone: string, zonefile: string): string {
  return `server:
  ip-address: 127.0.0.1
  port: ${port}
  server-count: 1
  username: ""
  chroot: ""
  zonesdir: "${dir}"
  pidfile: "${join(dir, 'nsd.pid')}"
  database: ""
  xfrdfile: "${join(dir, 'xfrd.state')}"
  zonelistfile: "${join(dir, 'zone.list')}"
  xfrdir: "${dir}"
  logfile: "${join(dir, 'nsd.log')}"
  verbosity: 0
  hide-version: yes
  minimal-responses: yes
  rrl-ratelimit: 0 # on by default in Debian's build: 200 queries/s per client network
  rrl-whitelist-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: ${zone}
  zonefile: "${zonefile}"
`;
}

// Writes the zone and the configuration into `dir` and starts nsd on `cpus`.
export function startNsd(dir: string, port: number, zone: string, zoneText: string, cpus: string): Child {
  const zonefile = join(dir, `${zone}.zone`);
  writeFileSync(zonefile, zoneText);
  const config = join(dir, 'nsd.conf');
  writeFileSync(config, nsdConfig(dir, port, zone, zonefile));
  return spawnPinned(cpus, 'nsd', ['-d', '-c', config]);
}
