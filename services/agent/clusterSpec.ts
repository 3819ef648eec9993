// The `--cluster ID=KUBECONFIG[@CONTEXT]` flag. The first `@` starts the
// context name, which may itself contain `@` (kubeadm's `kubernetes-admin@kubernetes`).

import { isClusterId } from '../../shared/events.js';

export interface ClusterSpec {
  id: string;
  kubeconfig: string;
  context?: string;
}

export function parseClusterSpec(flag: string): ClusterSpec {
  const usage = `--cluster ${JSON.stringify(flag)}: expected ID=KUBECONFIG[@CONTEXT]`;
  const eq = flag.indexOf('=');
  if (eq < 0) throw new Error(`${usage} (no "=")`);
  const id = flag.slice(0, eq);
  if (!isClusterId(id)) {
    throw new Error(`${usage}; cluster id ${JSON.stringify(id)} must be an RFC 1123 label (lower-case letters, digits and "-", at most 63)`);
  }
  const location = flag.slice(eq + 1);
  const at = location.indexOf('@');
  const kubeconfig = at < 0 ? location : location.slice(0, at);
  if (kubeconfig === '') throw new Error(`${usage} (the kubeconfig path is empty)`);
  if (at < 0) return { id, kubeconfig };
  const context = location.slice(at + 1);
  if (context === '') throw new Error(`${usage} (the context name after "@" is empty)`);
  return { id, kubeconfig, context };
}
