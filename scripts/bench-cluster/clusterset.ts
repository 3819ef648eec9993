// A generated clusterset for the cluster benchmarks, as an MCS controller
// would leave it: every member cluster imports every service (the same
// ClusterSetIP everywhere) and holds the EndpointSlices of every exporting
// cluster. Each headless service is exported by one cluster. Deterministic
// for a given seed, so a sample can be checked against the record model.
import { SERVICE_NAME_LABEL, SOURCE_CLUSTER_LABEL } from '../../shared/events.js';
import { serviceRecords } from '../../shared/recordModel.js';
import type { ViewRecord } from '../../shared/view.js';
import { trimEndpointSlice, trimServiceImport } from '../../services/agent/trim.js';
import { seededRandom } from '../../test/support/random.js';

export interface ClustersetSpec {
  clusters: string[];
  services: number; // imported by every cluster
  endpoints: number; // in total, spread over the headless services
  headlessShare: number; // 0..1
  namespaces: number;
  seed: number;
}

export interface KubeObject {
  apiVersion: string;
  kind: 'Namespace' | 'ServiceImport' | 'EndpointSlice';
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

export interface Service {
  namespace: string;
  name: string;
  headless: boolean;
  source: string; // the exporting cluster of a headless service's endpoints
  importObject: KubeObject;
  slices: KubeObject[];
}

export interface Clusterset {
  spec: ClustersetSpec;
  services: Service[];
  namespaces: string[];
}

const SLICE_CAPACITY = 100; // endpoints per EndpointSlice, as Kubernetes' default
const NOT_READY_SHARE = 0.05;

// n (< 2^22) as an address in 10.64.0.0/10; n (< 2^20) in 172.16.0.0/12.
const endpointAddress = (n: number) => `10.${64 + (n >>> 16)}.${(n >>> 8) & 255}.${n & 255}`;
const serviceAddress = (n: number) => `172.${16 + (n >>> 16)}.${(n >>> 8) & 255}.${n & 255}`;

export function serviceImport(namespace: string, name: string, type: 'ClusterSetIP' | 'Headless', ips: string[]): KubeObject {
  return {
    apiVersion: 'multicluster.x-k8s.io/v1beta1',
    kind: 'ServiceImport',
    metadata: { name, namespace },
    spec: { type, ...(ips.length > 0 ? { ips } : {}), ports: [{ name: type === 'Headless' ? 'tcp' : 'http', protocol: 'TCP', port: type === 'Headless' ? 7000 : 80 }] },
  };
}

export function namespaceObject(name: string): KubeObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name } };
}

export function generateClusterset(spec: ClustersetSpec): Clusterset {
  const next = seededRandom(spec.seed);
  const headlessEvery = spec.headlessShare > 0 ? Math.max(1, Math.round(1 / spec.headlessShare)) : Infinity;
  const headlessCount = Number.isFinite(headlessEvery) ? Math.ceil(spec.services / headlessEvery) : 0;
  let endpointNumber = 0;
  const services: Service[] = [];
  for (let i = 0; i < spec.services; i++) {
    const namespace = `ns-${i % spec.namespaces}`;
    const name = `svc-${i}`;
    const headless = i % headlessEvery === 0;
    const source = spec.clusters[i % spec.clusters.length]!;
    const h = Math.floor(i / headlessEvery);
    // Spread the endpoints evenly; the first services take the remainder.
    const endpoints = !headless ? 0 : Math.floor(spec.endpoints / headlessCount) + (h < spec.endpoints % headlessCount ? 1 : 0);
    const stateful = i % 2 === 0; // half name their pods (StatefulSet), half get address-derived hostnames
    const slices: KubeObject[] = [];
    for (let first = 0; first < endpoints; first += SLICE_CAPACITY) {
      const count = Math.min(SLICE_CAPACITY, endpoints - first);
      slices.push({
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: {
          name: `${name}-${source}-${first / SLICE_CAPACITY}`,
          namespace,
          labels: { [SERVICE_NAME_LABEL]: name, [SOURCE_CLUSTER_LABEL]: source },
        },
        addressType: 'IPv4',
        endpoints: Array.from({ length: count }, (_, k) => ({
          addresses: [endpointAddress(endpointNumber++)],
          ...(stateful ? { hostname: `${name}-${first + k}` } : {}),
          conditions: { ready: next() >= NOT_READY_SHARE },
        })),
        ports: [{ name: 'tcp', protocol: 'TCP', port: 7000 }],
      });
    }
    const importObject = serviceImport(namespace, name, headless ? 'Headless' : 'ClusterSetIP', headless ? [] : [serviceAddress(i)]);
    services.push({ namespace, name, headless, source, importObject, slices });
  }
  const namespaces = Array.from({ length: Math.min(spec.namespaces, spec.services) }, (_, n) => `ns-${n}`);
  return { spec, services, namespaces };
}

// What one member cluster's API server holds: every namespace, import and slice.
export function clusterObjects(set: Clusterset): KubeObject[] {
  return [...set.namespaces.map(namespaceObject), ...set.services.flatMap((s) => [s.importObject, ...s.slices])];
}

// Zone-relative name → its records, for one service, by the record model
// over what every cluster holds (each cluster imports it and holds its slices).
export function expectedNames(set: Clusterset, service: Service): Record<string, ViewRecord[]> {
  const imported = trimServiceImport(service.importObject)!;
  const slices = service.slices.map((s) => trimEndpointSlice(s)!);
  const records = serviceRecords(
    service.namespace,
    service.name,
    set.spec.clusters.map((cluster) => ({ cluster, object: imported })),
    set.spec.clusters.flatMap((cluster) => slices.map((object) => ({ cluster, object }))),
  );
  return records?.names ?? {};
}
