// `serve --corefile`: a CoreDNS Corefile's multicluster stanza as settings
// below flags, environment and --config.
import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import type { ClusterSpec } from '../agent/clusterSpec.js';
import { parseCorefile, parseResolvConf } from './corefile.js';
import { parseListenAddress, parseZone, UsageError } from './settings.js';

function read(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

// The plugin has no cluster ids: one is made from the context, else the kubeconfig's file name.
function clusterId(from: string, taken: Set<string>): string {
  const base = from.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 55) || 'cluster';
  let id = base;
  for (let n = 2; taken.has(id); n++) id = `${base}-${n}`;
  taken.add(id);
  return id;
}

export function corefileLayer(path: string): { layer: Record<string, unknown>; warnings: string[] } {
  const c = parseCorefile(read(path, 'Corefile'), path, process.env);
  const taken = new Set<string>();
  const clusters: ClusterSpec[] = c.clusters.map((k) => {
    if (k.kubeconfig === undefined) {
      throw new UsageError(`${path}: a multicluster stanza without kubeconfig runs in-cluster; mcsdns serve needs a kubeconfig per cluster (add one, or use --cluster)`);
    }
    const id = clusterId(k.context ?? basename(k.kubeconfig, extname(k.kubeconfig)), taken);
    return { id, kubeconfig: k.kubeconfig, ...(k.context !== undefined ? { context: k.context } : {}) };
  });
  const zones = c.zones.map((z) => {
    if (z === '.') throw new UsageError(`${path}: mcsdns answers the multicluster zones, not the root zone "."; name them on the multicluster line`);
    return parseZone(z);
  });
  const upstream = [...c.upstreams, ...c.resolvConf.flatMap((file) => parseResolvConf(read(file, 'resolv.conf')))];
  const layer: Record<string, unknown> = { zone: zones, cluster: clusters, fallthrough: c.fallthrough?.map(parseZone), upstream };
  if (c.noEndpoints) layer['no-endpoints'] = true;
  if (c.dnsListen !== undefined) layer['dns-listen'] = parseListenAddress(c.dnsListen);
  if (c.ttl !== undefined) layer.ttl = c.ttl;
  if (c.allowTransfer !== undefined) layer['allow-transfer'] = c.allowTransfer;
  const warnings = [...c.warnings, ...clusters.map((k) => `cluster ${k.kubeconfig}${k.context ? `@${k.context}` : ''} gets the id ${k.id}`)];
  return { layer, warnings };
}
