// bench:scale's view, as the aggregator derives it: the record model over a
// generated clusterset (every cluster imports every service and holds every
// slice), sized from the environment variables named PREFIX_CLUSTERS,
// PREFIX_SERVICES, PREFIX_ENDPOINTS and PREFIX_HEADLESS_SHARE.
import { generateClusterset, type Clusterset } from '../bench-cluster/clusterset.js';
import { serviceRecordsByCluster } from '../../shared/recordModel.js';
import { serviceKey, type DnsView, type ServiceRecords } from '../../shared/view.js';
import { trimEndpointSlice, trimServiceImport } from '../../services/agent/trim.js';
import { envNumber } from './env.js';

export function scaleView(prefix: string): { set: Clusterset; view: DnsView; names: number } {
  const set = generateClusterset({
    clusters: ['east', 'west', 'north', 'south', 'central'].slice(0, envNumber(`${prefix}_CLUSTERS`, 3)),
    services: envNumber(`${prefix}_SERVICES`, 10_000),
    endpoints: envNumber(`${prefix}_ENDPOINTS`, 100_000),
    headlessShare: envNumber(`${prefix}_HEADLESS_SHARE`, 0.2),
    namespaces: 50,
    seed: 1,
  });
  const ids = set.spec.clusters;
  const services: Record<string, ServiceRecords> = {};
  let names = 0;
  for (const s of set.services) {
    const imported = trimServiceImport(s.importObject)!;
    const slices = s.slices.map((x) => trimEndpointSlice(x)!);
    const imports = ids.map((cluster) => ({ cluster, object: imported }));
    const { union } = serviceRecordsByCluster(s.namespace, s.name, imports, ids.flatMap((cluster) => slices.map((object) => ({ cluster, object }))), ids);
    if (!union) continue;
    services[serviceKey(s.namespace, s.name)] = union;
    names += Object.keys(union.names).length;
  }
  return { set, view: { version: 1, clusters: ids.map((id) => ({ id, synced: true })), namespaces: set.namespaces, services }, names };
}
