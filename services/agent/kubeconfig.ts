// Loads the KubeConfig an agent talks to its cluster with. Authentication is
// client-node's (token, client certificate, basic, exec plugin, …); this only
// turns what would fail later into one clear line now.

import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { describeFailure } from './failure.js';

export interface KubeConfigSource {
  kubeconfig?: string;
  context?: string;
  inCluster?: boolean;
}

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

function fileProblem(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  const known: Record<string, string> = { ENOENT: 'no such file', EACCES: 'permission denied', EISDIR: 'it is a directory' };
  return (code !== undefined && known[code]) || describeFailure(err);
}

export function loadKubeConfig(source: KubeConfigSource): KubeConfig {
  if (source.inCluster) {
    if (source.kubeconfig !== undefined) throw new Error('give either a kubeconfig or --in-cluster, not both');
    if (source.context !== undefined) throw new Error('--in-cluster takes no context');
    return loadInCluster();
  }
  if (source.kubeconfig === undefined) throw new Error('no kubeconfig given (a kubeconfig path, or --in-cluster)');
  return loadFile(source.kubeconfig, source.context);
}

function loadInCluster(): KubeConfig {
  if (!process.env.KUBERNETES_SERVICE_HOST || !process.env.KUBERNETES_SERVICE_PORT) {
    throw new Error('--in-cluster: not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST/PORT are not set)');
  }
  try {
    readFileSync(SERVICE_ACCOUNT_TOKEN);
  } catch (err) {
    throw new Error(`--in-cluster: cannot read the service account token ${SERVICE_ACCOUNT_TOKEN}: ${fileProblem(err)}`);
  }
  const kc = new KubeConfig();
  kc.loadFromCluster();
  return kc;
}

function loadFile(path: string, context: string | undefined): KubeConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read kubeconfig ${path}: ${fileProblem(err)}`);
  }
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (err) {
    throw new Error(`kubeconfig ${path} is not valid YAML: ${describeFailure(err)}`);
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new Error(`kubeconfig ${path} is not a kubeconfig (expected a YAML mapping with clusters, users and contexts)`);
  }
  const kc = new KubeConfig();
  try {
    kc.loadFromString(text);
  } catch (err) {
    throw new Error(`kubeconfig ${path} is not valid: ${describeFailure(err)}`);
  }
  kc.makePathsAbsolute(dirname(path));
  selectContext(kc, path, context);
  const problem = kubeConfigProblem(kc);
  if (problem) throw new Error(`kubeconfig ${path}: ${problem}`);
  return kc;
}

function selectContext(kc: KubeConfig, path: string, context: string | undefined): void {
  const names = kc.getContexts().map((c) => c.name);
  const available = names.length > 0 ? `available: ${names.join(', ')}` : 'it defines no contexts';
  if (context !== undefined) {
    if (!names.includes(context)) throw new Error(`kubeconfig ${path} has no context "${context}" (${available})`);
    kc.setCurrentContext(context);
    return;
  }
  const current = kc.getCurrentContext();
  if (!current) throw new Error(`kubeconfig ${path} has no current-context; name a context (${available})`);
  if (!names.includes(current)) throw new Error(`kubeconfig ${path}: current-context "${current}" is not defined (${available})`);
}

// Why client-node could not talk to the current context's cluster; undefined when it can try.
export function kubeConfigProblem(kc: KubeConfig): string | undefined {
  const context = kc.getContextObject(kc.getCurrentContext());
  if (!context) return 'no current context';
  const cluster = kc.getCurrentCluster();
  if (!cluster) return `context "${context.name}" names cluster "${context.cluster}", which is not defined`;
  if (context.user && !kc.getCurrentUser()) return `context "${context.name}" names user "${context.user}", which is not defined`;
  let url: URL;
  try {
    url = new URL(cluster.server);
  } catch {
    return `cluster "${cluster.name}" has an invalid server URL ${JSON.stringify(cluster.server)}`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `cluster "${cluster.name}" server ${cluster.server} is not an http(s) URL`;
  // client-node refuses plain HTTP unless told so.
  if (url.protocol === 'http:' && !cluster.skipTLSVerify) return `cluster "${cluster.name}" uses plain http; set insecure-skip-tls-verify: true for it`;
  return undefined;
}
