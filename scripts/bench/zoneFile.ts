// The DNS view as an RFC 1035 zone file, for an authoritative server to
// serve the same answers as mcsdns (DESIGN.md, "DNS semantics": apex SOA and
// NS, dns-version TXT, every name of every service).
import type { DnsView } from '../../shared/view.js';

export const VERSION_TTL = 28800;

export function zoneFile(view: DnsView, zone: string, ttl: number): string {
  const lines = [
    `$ORIGIN ${zone}.`,
    `$TTL ${ttl}`,
    `@ IN SOA ns.dns.${zone}. hostmaster.${zone}. ${view.version} 7200 1800 86400 ${ttl}`,
    `@ IN NS ns.dns.${zone}.`,
    `dns-version ${VERSION_TTL} IN TXT "1.0.0"`,
  ];
  for (const records of Object.values(view.services)) {
    for (const [name, rrs] of Object.entries(records.names)) {
      for (const r of rrs) {
        if (r.type === 'SRV') lines.push(`${name} IN SRV ${r.priority} ${r.weight} ${r.port} ${r.target}.${zone}.`);
        else lines.push(`${name} IN ${r.type} ${r.address}`);
      }
    }
  }
  return lines.join('\n') + '\n';
}
