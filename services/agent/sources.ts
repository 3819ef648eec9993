// What the agent lists and watches in a member cluster, and which
// ServiceImport version the cluster serves.

import {
  CoreV1Api,
  CustomObjectsApi,
  HttpMethod,
  IsomorphicFetchHttpLibrary,
  ServerConfiguration,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { SERVICE_NAME_LABEL, type Kind } from '../../shared/events.js';
import { describeFailure } from './failure.js';

export interface KindSource {
  kind: Kind;
  path: string; // the collection the informer watches
  labelSelector?: string; // applied by the server, to the list and the watch alike
  // One page of the list: the first without a token, the next with the one the previous page carried.
  listPage(continueToken: string | undefined): Promise<ListPage>;
}

export interface ListPage {
  items: KubernetesObject[];
  resourceVersion: string; // of the whole list, the same on every page
  continueToken: string | undefined; // undefined on the last page
}

// Objects per list page, as client-go's reflector asks: a page is trimmed and
// published while the next one is on its way, and its objects die young.
const LIST_PAGE_SIZE = 500;

// Typed lists name the token `_continue`, plain JSON `continue`.
function pageOf(list: KubernetesListObject<KubernetesObject>): ListPage {
  const meta = (list.metadata ?? {}) as { resourceVersion?: string; continue?: string; _continue?: string };
  return { items: list.items ?? [], resourceVersion: meta.resourceVersion ?? '', continueToken: meta.continue || meta._continue || undefined };
}

export const MCS_GROUP = 'multicluster.x-k8s.io';
export type ServiceImportVersion = 'v1beta1' | 'v1alpha1';

export function serviceImportSource(kc: KubeConfig, version: ServiceImportVersion): KindSource {
  const api = kc.makeApiClient(CustomObjectsApi);
  return {
    kind: 'ServiceImport',
    path: `/apis/${MCS_GROUP}/${version}/serviceimports`,
    listPage: async (_continue) => pageOf(await api.listClusterCustomObject({ group: MCS_GROUP, version, plural: 'serviceimports', limit: LIST_PAGE_SIZE, _continue })),
  };
}

// Listed as plain JSON, as the watch delivers them: client-node's model
// classes for 100,000 endpoints cost the agent another quarter second of CPU.
export function endpointSliceSource(kc: KubeConfig): KindSource {
  const api = kc.makeApiClient(CustomObjectsApi);
  return {
    kind: 'EndpointSlice',
    path: '/apis/discovery.k8s.io/v1/endpointslices',
    labelSelector: SERVICE_NAME_LABEL,
    listPage: async (_continue) =>
      pageOf(
        await api.listClusterCustomObject({ group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', labelSelector: SERVICE_NAME_LABEL, limit: LIST_PAGE_SIZE, _continue }),
      ),
  };
}

export function namespaceSource(kc: KubeConfig): KindSource {
  const api = kc.makeApiClient(CoreV1Api);
  return { kind: 'Namespace', path: '/api/v1/namespaces', listPage: async (_continue) => pageOf(await api.listNamespace({ limit: LIST_PAGE_SIZE, _continue })) };
}

// From the group's discovery document (an APIGroup): v1beta1 when served, else v1alpha1.
export function pickServiceImportVersion(apiGroup: unknown): ServiceImportVersion | undefined {
  const versions = (apiGroup as { versions?: { version?: unknown }[] } | undefined)?.versions;
  const served = new Set(Array.isArray(versions) ? versions.map((v) => v?.version) : []);
  return served.has('v1beta1') ? 'v1beta1' : served.has('v1alpha1') ? 'v1alpha1' : undefined;
}

export type Discovery = { version: ServiceImportVersion } | { problem: string };

// GET /apis/multicluster.x-k8s.io, with the kubeconfig's credentials.
export async function discoverServiceImportVersion(kc: KubeConfig, signal: AbortSignal): Promise<Discovery> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) return { problem: 'the kubeconfig has no current cluster' };
  try {
    const request = new ServerConfiguration(cluster.server, {}).makeRequestContext(`/apis/${MCS_GROUP}`, HttpMethod.GET);
    request.setHeaderParam('Accept', 'application/json');
    request.setSignal(signal);
    await kc.applySecurityAuthentication(request);
    const response = await new IsomorphicFetchHttpLibrary().send(request).toPromise();
    const body = await response.body.text();
    if (response.httpStatusCode === 404) return { problem: `API group ${MCS_GROUP} is not served (are the Multi-Cluster Services CRDs installed?)` };
    if (response.httpStatusCode !== 200) return { problem: `discovery of ${MCS_GROUP}: HTTP ${response.httpStatusCode}` };
    const version = pickServiceImportVersion(JSON.parse(body));
    return version ? { version } : { problem: `API group ${MCS_GROUP} serves neither v1beta1 nor v1alpha1` };
  } catch (err) {
    return { problem: `discovery of ${MCS_GROUP}: ${describeFailure(err)}` };
  }
}
