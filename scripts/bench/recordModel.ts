// node --import tsx scripts/bench/recordModel.ts: CPU time per call of the
// record model on the rows the aggregator hands it (every cluster imports
// every service with its own ClusterSetIP, as MCS controllers allocate one
// per cluster; headless services have one slice per cluster, half of them
// naming their pods), fresh and with the derivations the aggregator keeps.
// Numbers only; nothing here fails for being slow.
//
// Sizes: BENCH_SERVICES (4000), BENCH_CLUSTERS (3), BENCH_HEADLESS (share, 0.25),
// BENCH_ENDPOINTS (per slice, 3), BENCH_ROUNDS (7), BENCH_SEED (1).
import type { EndpointSliceObject, ServiceImportObject, ServicePort } from '../../shared/events.js';
import { objectJson } from '../../shared/events.js';
import { serviceRecords, serviceRecordsByCluster, type ClusterServiceRecords, type ImportRow, type SliceRow } from '../../shared/recordModel.js';
import { seededRandom } from '../../test/support/random.js';
import { clusterIds } from './clusterset.js';
import { envNumber } from './env.js';

interface Service {
  namespace: string;
  name: string;
  imports: ImportRow[];
  slices: SliceRow[];
}

const spec = {
  services: Math.max(1, envNumber('BENCH_SERVICES', 4000)),
  clusters: Math.max(1, envNumber('BENCH_CLUSTERS', 3)),
  headlessShare: envNumber('BENCH_HEADLESS', 0.25),
  endpoints: envNumber('BENCH_ENDPOINTS', 3),
  rounds: Math.max(1, envNumber('BENCH_ROUNDS', 7)),
  seed: envNumber('BENCH_SEED', 1),
};
const HTTP: ServicePort = { name: 'http', protocol: 'TCP', port: 80 };
const GRPC: ServicePort = { name: 'grpc', protocol: 'TCP', port: 9090 };

function generateServices(): Service[] {
  const random = seededRandom(spec.seed);
  const clusters = clusterIds(spec.clusters);
  const byte = () => Math.floor(random() * 256);
  return Array.from({ length: spec.services }, (_, s) => {
    const headless = random() < spec.headlessShare;
    const ports = random() < 0.3 ? [HTTP, GRPC] : [HTTP];
    const importOf = (cluster: string): ImportRow => {
      const ips = headless ? [] : random() < 0.1 ? [`10.96.${byte()}.${byte()}`, `fd00:96::${byte().toString(16)}`] : [`10.96.${byte()}.${byte()}`];
      return row(cluster, { type: headless ? 'Headless' : 'ClusterSetIP', ips, ports });
    };
    const sliceOf = (cluster: string, c: number): SliceRow =>
      row(cluster, {
        serviceName: `svc-${s}`,
        sourceCluster: cluster,
        addressType: 'IPv4',
        ports,
        endpoints: Array.from({ length: spec.endpoints }, (_, e) => ({
          addresses: [`10.${100 + c}.${(s >> 8) & 255}.${((s & 255) * spec.endpoints + e) % 256}`],
          ...(s % 2 === 0 ? { hostname: `svc-${s}-${e}` } : {}),
          ready: random() < 0.9,
        })),
      } satisfies EndpointSliceObject);
    return { namespace: `ns-${s % 500}`, name: `svc-${s}`, imports: clusters.map(importOf), slices: headless ? clusters.map(sliceOf) : [] };
  });
}

function row<T extends ServiceImportObject | EndpointSliceObject>(cluster: string, object: T): { cluster: string; object: T; json: string } {
  return { cluster, object, json: objectJson(object) };
}

// CPU µs per call of `run` over every service, best of the rounds.
function timePerCall(services: Service[], run: (service: Service, k: number) => unknown): number {
  let best = Infinity;
  for (let round = 0; round < spec.rounds; round++) {
    const start = process.cpuUsage();
    for (let k = 0; k < services.length; k++) run(services[k]!, k);
    const used = process.cpuUsage(start);
    best = Math.min(best, (used.user + used.system) / services.length);
  }
  return best;
}

// The same service after one cluster's import or slice changed: what the aggregator derives most often.
function changedOne(service: Service): Service {
  const [first, ...rest] = service.slices.length > 0 ? service.slices : service.imports;
  if (!first) return service;
  const object = structuredClone(first.object) as ServiceImportObject & EndpointSliceObject;
  if (service.slices.length > 0) object.endpoints = object.endpoints.map((ep) => ({ ...ep, ready: !ep.ready }));
  else object.ips = ['10.97.0.1'];
  const changed = row(first.cluster, object);
  return service.slices.length > 0 ? { ...service, slices: [changed, ...rest] as SliceRow[] } : { ...service, imports: [changed, ...rest] as ImportRow[] };
}

const services = generateServices();
const clusters = clusterIds(spec.clusters);
const clusterSet = services.filter((s) => s.imports[0]?.object.type === 'ClusterSetIP');
const headless = services.filter((s) => s.imports[0]?.object.type === 'Headless');
const known: ClusterServiceRecords['derivations'][] = services.map((s) => serviceRecordsByCluster(s.namespace, s.name, s.imports, s.slices, clusters).derivations);
const changed = services.map(changedOne);

const lines: [string, Service[], (service: Service, k: number) => unknown][] = [
  ['serviceRecords, ClusterSetIP', clusterSet, (s) => serviceRecords(s.namespace, s.name, s.imports, s.slices)],
  ['serviceRecords, headless', headless, (s) => serviceRecords(s.namespace, s.name, s.imports, s.slices)],
  ['serviceRecords, mix', services, (s) => serviceRecords(s.namespace, s.name, s.imports, s.slices)],
  ['byCluster, none viewed (first sync)', services, (s) => serviceRecordsByCluster(s.namespace, s.name, s.imports, s.slices, [])],
  ['byCluster, all viewed, fresh', services, (s) => serviceRecordsByCluster(s.namespace, s.name, s.imports, s.slices, clusters)],
  ['byCluster, all viewed, known, unchanged', services, (s, k) => serviceRecordsByCluster(s.namespace, s.name, s.imports, s.slices, clusters, known[k])],
  ['byCluster, all viewed, known, one row changed', changed, (s, k) => serviceRecordsByCluster(s.namespace, s.name, s.imports, s.slices, clusters, known[k])],
];

console.log(`record model: ${spec.services} services (${headless.length} headless), ${spec.clusters} clusters, ${spec.endpoints} endpoints per slice; CPU µs per call, best of ${spec.rounds}`);
for (const [title, set, run] of lines) {
  timePerCall(set, run); // warm up
  console.log(`${title.padEnd(48)} ${timePerCall(set, run).toFixed(2).padStart(8)} µs`);
}
