// Sample objects of one demo cluster: what an MCS controller would have
// created in it. Both clusters import every exported service, so each holds
// the EndpointSlices of both (labelled with their source cluster).

const namespace = (name: string) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });

function serviceImport(name: string, type: 'ClusterSetIP' | 'Headless', ips: string[], ports: object[]) {
  return {
    apiVersion: 'multicluster.x-k8s.io/v1beta1',
    kind: 'ServiceImport',
    metadata: { name, namespace: 'prod' },
    spec: { type, ...(ips.length ? { ips } : {}), ports },
  };
}

function slice(service: string, source: string, endpoints: { ip: string; hostname?: string; ready?: boolean }[]) {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: `imported-${service}-${source}`,
      namespace: 'prod',
      labels: {
        'multicluster.kubernetes.io/service-name': service,
        'multicluster.kubernetes.io/source-cluster': source,
        'endpointslice.kubernetes.io/managed-by': 'demo',
      },
    },
    addressType: 'IPv4',
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      ...(e.hostname ? { hostname: e.hostname } : {}),
      conditions: { ready: e.ready ?? true },
    })),
    ports: [{ name: 'postgres', protocol: 'TCP', port: 5432 }],
  };
}

export function demoObjects(cluster: string): object[] {
  const objects: object[] = [namespace('default'), namespace('prod')];
  // Exported by both clusters, one ClusterSetIP.
  objects.push(serviceImport('web', 'ClusterSetIP', ['10.96.100.10'], [{ name: 'http', protocol: 'TCP', port: 80 }]));
  // Dual-stack, exported by east only, with an unnamed port (no SRV name).
  if (cluster === 'east') {
    objects.push(
      serviceImport('api', 'ClusterSetIP', ['10.96.100.20', 'fd00:96::20'], [
        { name: 'grpc', protocol: 'TCP', port: 9090 },
        { protocol: 'TCP', port: 8080 },
      ]),
    );
  }
  // Headless, with endpoints in both clusters; db-2 in east is not ready.
  objects.push(serviceImport('db', 'Headless', [], [{ name: 'postgres', protocol: 'TCP', port: 5432 }]));
  objects.push(
    slice('db', 'east', [
      { ip: '10.1.0.10', hostname: 'db-0' },
      { ip: '10.1.0.11', hostname: 'db-1' },
      { ip: '10.1.0.12', hostname: 'db-2', ready: false },
    ]),
  );
  objects.push(slice('db', 'west', [{ ip: '10.2.0.10', hostname: 'db-0' }]));
  return objects;
}
