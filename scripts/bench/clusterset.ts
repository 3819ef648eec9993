// A seeded clusterset for DNS benchmarks: generated ServiceImports and
// EndpointSlices, turned into the DNS view by the real record model, and the
// questions a benchmark asks of it.
import type { EndpointSliceObject, ServicePort } from '../../shared/events.js';
import { serviceRecords, type ImportRow, type SliceRow } from '../../shared/recordModel.js';
import { serviceKey, type DnsView, type ServiceRecords } from '../../shared/view.js';
import { seededRandom } from '../../test/support/random.js';

export interface ClustersetSpec {
  services: number;
  clusters: number;
  headlessShare: number; // 0..1 of the services
  endpoints: number; // per headless service in each cluster that exports it
  seed: number;
}

export type QuestionType = 'A' | 'AAAA' | 'SRV' | 'TXT' | 'SOA' | 'NS';

export interface Question {
  name: string; // zone-relative, e.g. "svc-1.ns-1.svc"; "" is the apex
  type: QuestionType;
}

export interface Clusterset {
  view: DnsView;
  // Names that exist, by what they are, and names that do not.
  serviceNames: string[];
  srvNames: string[];
  endpointNames: string[];
  missingNames: string[];
}

const SERVICES_PER_NAMESPACE = 20;
const DUAL_STACK_SHARE = 0.1;
const READY_SHARE = 0.9;
const HTTP: ServicePort = { name: 'http', protocol: 'TCP', port: 80 };
const GRPC: ServicePort = { name: 'grpc', protocol: 'TCP', port: 9090 };
const UNNAMED: ServicePort = { name: '', protocol: 'TCP', port: 8080 };

export const clusterIds = (n: number): string[] => Array.from({ length: n }, (_, i) => `cluster-${i + 1}`);

export function generateClusterset(spec: ClustersetSpec): Clusterset {
  const random = seededRandom(spec.seed);
  const clusters = clusterIds(spec.clusters);
  const namespaceCount = Math.max(1, Math.ceil(spec.services / SERVICES_PER_NAMESPACE));
  const services: Record<string, ServiceRecords> = {};
  const out: Omit<Clusterset, 'view'> = { serviceNames: [], srvNames: [], endpointNames: [], missingNames: [] };
  for (let s = 0; s < spec.services; s++) {
    const namespace = `ns-${s % namespaceCount}`;
    const name = `svc-${s}`;
    const exporters = clusters.filter(() => random() < 0.5);
    if (exporters.length === 0) exporters.push(clusters[Math.floor(random() * clusters.length)]!);
    const ports = random() < 0.3 ? [HTTP, GRPC, UNNAMED] : [HTTP];
    const headless = random() < spec.headlessShare;
    const imports: ImportRow[] = exporters.map((cluster) => ({
      cluster,
      object: { type: headless ? 'Headless' : 'ClusterSetIP', ips: headless ? [] : serviceIps(s, random), ports },
    }));
    const slices: SliceRow[] = headless ? exporters.map((cluster, c) => ({ cluster, object: slice(s, c, name, cluster, ports, spec.endpoints, random) })) : [];
    const records = serviceRecords(namespace, name, imports, slices);
    out.missingNames.push(`missing-${s}.${namespace}.svc`);
    if (!records) continue;
    services[serviceKey(namespace, name)] = records;
    const base = `${name}.${namespace}.svc`;
    for (const n of Object.keys(records.names)) {
      if (n === base) out.serviceNames.push(n);
      else if (n.startsWith('_')) out.srvNames.push(n);
      else out.endpointNames.push(n);
    }
  }
  const view: DnsView = {
    version: 1,
    clusters: clusters.map((id) => ({ id, synced: true })),
    namespaces: Array.from({ length: namespaceCount }, (_, i) => `ns-${i}`).sort(),
    services,
  };
  return { view, ...out };
}

// One IPv4 ClusterSetIP per service, the same in every cluster; some also have an IPv6 one.
function serviceIps(s: number, random: () => number): string[] {
  const v4 = `10.96.${(s >> 8) & 255}.${s & 255}`;
  return random() < DUAL_STACK_SHARE ? [v4, `fd00:96::${s.toString(16)}`] : [v4];
}

// Cluster c's slice of headless service s: half the services name their pods.
function slice(s: number, c: number, name: string, cluster: string, ports: ServicePort[], endpoints: number, random: () => number): EndpointSliceObject {
  const named = s % 2 === 0;
  return {
    serviceName: name,
    sourceCluster: cluster,
    addressType: 'IPv4',
    ports,
    endpoints: Array.from({ length: endpoints }, (_, e) => ({
      addresses: [`10.${100 + c}.${(s >> 8) & 255}.${((s & 255) * endpoints + e) % 256}`],
      ...(named ? { hostname: `${name}-${e}` } : {}),
      ready: random() < READY_SHARE,
    })),
  };
}

// `count` questions in a benchmark's mix: mostly A at service names, some
// AAAA (often NODATA), SRV, endpoint names and names that do not exist.
export function questionMix(set: Clusterset, count: number, seed: number): Question[] {
  const random = seededRandom(seed);
  const pick = (names: string[]): string => names[Math.floor(random() * names.length)]!;
  const out: Question[] = [];
  for (let i = 0; i < count; i++) {
    const r = random();
    if (r < 0.5) out.push({ name: pick(set.serviceNames), type: 'A' });
    else if (r < 0.6) out.push({ name: pick(set.serviceNames), type: 'AAAA' });
    else if (r < 0.75 && set.srvNames.length > 0) out.push({ name: pick(set.srvNames), type: 'SRV' });
    else if (r < 0.8) out.push({ name: pick(set.serviceNames), type: 'SRV' });
    else if (r < 0.95 && set.endpointNames.length > 0) out.push({ name: pick(set.endpointNames), type: 'A' });
    else out.push({ name: pick(set.missingNames), type: 'A' });
  }
  return out;
}

// What the answers are compared on: every kind of name and type once, then the mix.
export function checkSample(set: Clusterset, count: number, seed: number): Question[] {
  const fixed: Question[] = [
    { name: '', type: 'SOA' },
    { name: '', type: 'NS' },
    { name: 'dns-version', type: 'TXT' },
    { name: 'svc', type: 'A' },
    { name: 'ns-0.svc', type: 'A' },
  ];
  return [...fixed, ...questionMix(set, count, seed)];
}
