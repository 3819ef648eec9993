// What the agent lists and watches in a member cluster, and which
// ServiceImport version the cluster serves.

import { ApiException, HttpMethod, IsomorphicFetchHttpLibrary, ServerConfiguration, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
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
  return listSource(kc, 'ServiceImport', `/apis/${MCS_GROUP}/${version}/serviceimports`);
}

export function endpointSliceSource(kc: KubeConfig): KindSource {
  return listSource(kc, 'EndpointSlice', '/apis/discovery.k8s.io/v1/endpointslices', SERVICE_NAME_LABEL);
}

export function namespaceSource(kc: KubeConfig): KindSource {
  return listSource(kc, 'Namespace', '/api/v1/namespaces');
}

// Lists are read as plain JSON, as the watch delivers them: client-node's
// typed APIs would bring every model class of the Kubernetes API into the
// agent (3 MB of code to load), and deserializing 100,000 endpoints into
// them cost another quarter second of CPU.
function listSource(kc: KubeConfig, kind: Kind, path: string, labelSelector?: string): KindSource {
  return {
    kind,
    path,
    ...(labelSelector !== undefined && { labelSelector }),
    listPage: async (continueToken) => pageOf((await getJson(kc, path, { labelSelector, limit: String(LIST_PAGE_SIZE), continue: continueToken })) as KubernetesListObject<KubernetesObject>),
  };
}

// GET `path` with the kubeconfig's credentials: the JSON body, or, for any
// other status than 2xx, an ApiException as client-node's typed APIs throw.
async function getJson(kc: KubeConfig, path: string, query: Record<string, string | undefined>, signal?: AbortSignal): Promise<unknown> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  const request = new ServerConfiguration(cluster.server, {}).makeRequestContext(path, HttpMethod.GET);
  for (const [name, value] of Object.entries(query)) if (value !== undefined) request.setQueryParam(name, value);
  request.setHeaderParam('Accept', 'application/json');
  if (signal) request.setSignal(signal);
  await kc.applySecurityAuthentication(request);
  const response = await new IsomorphicFetchHttpLibrary().send(request).toPromise();
  const body = await response.body.text();
  if (response.httpStatusCode < 200 || response.httpStatusCode > 299) throw new ApiException(response.httpStatusCode, `HTTP ${response.httpStatusCode}`, body, response.headers);
  return JSON.parse(body);
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
  if (!kc.getCurrentCluster()) return { problem: 'the kubeconfig has no current cluster' };
  try {
    const version = pickServiceImportVersion(await getJson(kc, `/apis/${MCS_GROUP}`, {}, signal));
    return version ? { version } : { problem: `API group ${MCS_GROUP} serves neither v1beta1 nor v1alpha1` };
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return { problem: `API group ${MCS_GROUP} is not served (are the Multi-Cluster Services CRDs installed?)` };
    if (err instanceof ApiException) return { problem: `discovery of ${MCS_GROUP}: HTTP ${err.code}` };
    return { problem: `discovery of ${MCS_GROUP}: ${describeFailure(err)}` };
  }
}
