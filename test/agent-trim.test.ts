import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  DiscoveryV1EndpointPort,
  V1Endpoint,
  V1EndpointConditions,
  V1EndpointSlice,
  V1Namespace,
  V1ObjectMeta,
} from '@kubernetes/client-node';
import { SERVICE_NAME_LABEL, SOURCE_CLUSTER_LABEL } from '../shared/events.js';
import { objectRef, trimEndpointSlice, trimObject, trimServiceImport } from '../services/agent/trim.js';

function serviceImport(spec: unknown): unknown {
  return { apiVersion: 'multicluster.x-k8s.io/v1beta1', kind: 'ServiceImport', metadata: { name: 'web', namespace: 'prod' }, spec };
}

describe('trimServiceImport', () => {
  const cases: { title: string; spec: unknown; want: unknown }[] = [
    {
      title: 'ClusterSetIP with defaults: ips absent → [], unnamed port → "", protocol → TCP',
      spec: { type: 'ClusterSetIP', ports: [{ port: 80 }] },
      want: { type: 'ClusterSetIP', ips: [], ports: [{ name: '', protocol: 'TCP', port: 80 }] },
    },
    {
      title: 'ports sorted by number, protocol, name; ips sorted; other fields dropped',
      spec: {
        type: 'ClusterSetIP',
        ips: ['fd00::10', '10.0.0.10'],
        sessionAffinity: 'ClientIP',
        ports: [
          { name: 'dns-udp', protocol: 'UDP', port: 53, appProtocol: 'dns' },
          { name: 'https', protocol: 'TCP', port: 443 },
          { name: 'dns', protocol: 'TCP', port: 53 },
        ],
      },
      want: {
        type: 'ClusterSetIP',
        ips: ['10.0.0.10', 'fd00::10'],
        ports: [
          { name: 'dns', protocol: 'TCP', port: 53 },
          { name: 'dns-udp', protocol: 'UDP', port: 53 },
          { name: 'https', protocol: 'TCP', port: 443 },
        ],
      },
    },
    {
      title: 'Headless without ports',
      spec: { type: 'Headless' },
      want: { type: 'Headless', ips: [], ports: [] },
    },
    {
      title: 'ports without a usable number or with an unknown protocol are skipped',
      spec: { type: 'Headless', ports: [{ name: 'a' }, { port: 0 }, { port: 70000 }, { port: 8.5 }, { port: 9, protocol: 'ICMP' }, { port: 7, protocol: 'SCTP' }] },
      want: { type: 'Headless', ips: [], ports: [{ name: '', protocol: 'SCTP', port: 7 }] },
    },
    { title: 'no spec', spec: undefined, want: undefined },
    { title: 'no type', spec: { ips: ['10.0.0.1'] }, want: undefined },
    { title: 'unknown type', spec: { type: 'ClusterIP' }, want: undefined },
  ];
  for (const c of cases) {
    it(c.title, () => assert.deepEqual(trimServiceImport(serviceImport(c.spec)), c.want));
  }

  it('says why it rejects', () => {
    const reasons: string[] = [];
    trimServiceImport(serviceImport({ type: 'LoadBalancer' }), (r) => reasons.push(r));
    assert.deepEqual(reasons, ['spec.type "LoadBalancer" is neither ClusterSetIP nor Headless']);
  });
});

function slice(fields: Record<string, unknown>, labels: Record<string, string> = { [SERVICE_NAME_LABEL]: 'db' }): unknown {
  return { metadata: { name: 'db-abc', namespace: 'prod', labels: { 'other/label': 'x', ...labels } }, addressType: 'IPv4', ...fields };
}

describe('trimEndpointSlice', () => {
  const cases: { title: string; raw: unknown; want: unknown }[] = [
    {
      title: 'ready is true when the condition is true or absent, false only when false',
      raw: slice({
        endpoints: [
          { addresses: ['10.1.0.3'], conditions: { ready: false, serving: true } },
          { addresses: ['10.1.0.1'], conditions: { ready: true } },
          { addresses: ['10.1.0.2'] },
          { addresses: ['10.1.0.4'], conditions: {} },
        ],
        ports: [{ name: 'http', port: 8080 }],
      }),
      want: {
        serviceName: 'db',
        addressType: 'IPv4',
        endpoints: [
          { addresses: ['10.1.0.1'], ready: true },
          { addresses: ['10.1.0.2'], ready: true },
          { addresses: ['10.1.0.3'], ready: false },
          { addresses: ['10.1.0.4'], ready: true },
        ],
        ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
      },
    },
    {
      title: 'hostname and source-cluster kept; address order within an endpoint kept; extra fields dropped',
      raw: slice(
        {
          addressType: 'IPv6',
          endpoints: [{ addresses: ['fd00::2', 'fd00::1'], hostname: 'db-0', nodeName: 'n1', zone: 'z', targetRef: { kind: 'Pod' } }],
          ports: [{ name: '', protocol: 'UDP', port: 53 }],
        },
        { [SERVICE_NAME_LABEL]: 'db', [SOURCE_CLUSTER_LABEL]: 'west' },
      ),
      want: {
        serviceName: 'db',
        sourceCluster: 'west',
        addressType: 'IPv6',
        endpoints: [{ addresses: ['fd00::2', 'fd00::1'], hostname: 'db-0', ready: true }],
        ports: [{ name: '', protocol: 'UDP', port: 53 }],
      },
    },
    {
      title: 'a port without a number is skipped; endpoints without addresses are skipped; empty hostname dropped',
      raw: slice({
        endpoints: [{ addresses: [] }, { hostname: 'x' }, { addresses: ['10.0.0.1'], hostname: '' }],
        ports: [{ name: 'all', protocol: 'TCP' }, { name: 'p', port: 81 }],
      }),
      want: {
        serviceName: 'db',
        addressType: 'IPv4',
        endpoints: [{ addresses: ['10.0.0.1'], ready: true }],
        ports: [{ name: 'p', protocol: 'TCP', port: 81 }],
      },
    },
    {
      title: 'endpoints and ports absent (null in the API) → empty',
      raw: slice({ endpoints: null }),
      want: { serviceName: 'db', addressType: 'IPv4', endpoints: [], ports: [] },
    },
    { title: 'no service-name label', raw: slice({ endpoints: [] }, {}), want: undefined },
    { title: 'unknown addressType', raw: slice({ addressType: 'IPv5', endpoints: [] }), want: undefined },
    { title: 'not an object', raw: 'nope', want: undefined },
  ];
  for (const c of cases) {
    it(c.title, () => assert.deepEqual(trimEndpointSlice(c.raw), c.want));
  }

  it('gives the same JSON for the same content in another order', () => {
    const a = slice({
      endpoints: [{ addresses: ['10.0.0.2'], conditions: { ready: true } }, { addresses: ['10.0.0.1'], hostname: 'h' }],
      ports: [{ port: 81, name: 'b' }, { port: 80, name: 'a', protocol: 'TCP' }],
    });
    const b = slice(
      {
        ports: [{ protocol: 'TCP', name: 'a', port: 80 }, { name: 'b', port: 81 }],
        endpoints: [{ hostname: 'h', addresses: ['10.0.0.1'] }, { conditions: { ready: true }, addresses: ['10.0.0.2'] }],
      },
      { [SERVICE_NAME_LABEL]: 'db', unrelated: 'changed' },
    );
    assert.equal(JSON.stringify(trimEndpointSlice(a)), JSON.stringify(trimEndpointSlice(b)));
  });

  it('orders endpoints by all their content, so endpoints sharing an address sort alike too', () => {
    const endpoints = [
      { addresses: ['10.0.0.1', '10.0.0.3'] },
      { addresses: ['10.0.0.1'], hostname: 'b' },
      { addresses: ['10.0.0.1'], hostname: 'a', conditions: { ready: false } },
      { addresses: ['10.0.0.1'], hostname: 'a' },
      { addresses: ['10.0.0.1'] },
    ];
    const trimmed = trimEndpointSlice(slice({ endpoints }));
    assert.deepEqual(trimmed?.endpoints, [
      { addresses: ['10.0.0.1'], ready: true },
      { addresses: ['10.0.0.1'], hostname: 'a', ready: false },
      { addresses: ['10.0.0.1'], hostname: 'a', ready: true },
      { addresses: ['10.0.0.1'], hostname: 'b', ready: true },
      { addresses: ['10.0.0.1', '10.0.0.3'], ready: true },
    ]);
    assert.equal(JSON.stringify(trimEndpointSlice(slice({ endpoints: [...endpoints].reverse() }))), JSON.stringify(trimmed));
  });

  it('trims a client-node class instance (typed list item) like plain watch JSON', () => {
    const plain = {
      metadata: { name: 'db-abc', namespace: 'prod', resourceVersion: '7', uid: 'u1', labels: { [SERVICE_NAME_LABEL]: 'db' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.0.0.1'], hostname: 'db-0', conditions: { ready: false } }, { addresses: ['10.0.0.2'] }],
      ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
    };
    const typed = Object.assign(new V1EndpointSlice(), {
      metadata: Object.assign(new V1ObjectMeta(), { ...plain.metadata, creationTimestamp: new Date() }),
      addressType: 'IPv4',
      endpoints: [
        Object.assign(new V1Endpoint(), { addresses: ['10.0.0.1'], hostname: 'db-0', conditions: Object.assign(new V1EndpointConditions(), { ready: false }) }),
        Object.assign(new V1Endpoint(), { addresses: ['10.0.0.2'] }),
      ],
      ports: [Object.assign(new DiscoveryV1EndpointPort(), { name: 'http', port: 80, protocol: 'TCP' })],
    });
    const want = trimEndpointSlice(plain);
    assert.ok(want);
    assert.equal(JSON.stringify(trimEndpointSlice(typed)), JSON.stringify(want));
    assert.deepEqual(objectRef('EndpointSlice', typed), objectRef('EndpointSlice', plain));
  });

  it('says why it rejects', () => {
    const reasons: string[] = [];
    trimEndpointSlice(slice({ endpoints: [] }, {}), (r) => reasons.push(r));
    trimEndpointSlice(slice({ addressType: 'X' }), (r) => reasons.push(r));
    assert.deepEqual(reasons, [`label ${SERVICE_NAME_LABEL} is missing`, 'addressType "X" is not IPv4, IPv6 or FQDN']);
  });
});

describe('trimObject and objectRef', () => {
  it('a Namespace trims to {} and has namespace ""', () => {
    const ns = Object.assign(new V1Namespace(), {
      metadata: Object.assign(new V1ObjectMeta(), { name: 'prod', uid: 'u', resourceVersion: '3', creationTimestamp: new Date() }),
    });
    assert.deepEqual(trimObject('Namespace', ns), {});
    assert.deepEqual(objectRef('Namespace', ns), { namespace: '', name: 'prod', uid: 'u', resourceVersion: '3' });
  });

  const refs: { title: string; kind: 'ServiceImport' | 'Namespace'; raw: unknown; want: unknown }[] = [
    {
      title: 'namespaced object',
      kind: 'ServiceImport',
      raw: { metadata: { name: 'web', namespace: 'prod', uid: 'u', resourceVersion: '9' } },
      want: { namespace: 'prod', name: 'web', uid: 'u', resourceVersion: '9' },
    },
    { title: 'missing uid and resourceVersion → ""', kind: 'ServiceImport', raw: { metadata: { name: 'web', namespace: 'p' } }, want: { namespace: 'p', name: 'web', uid: '', resourceVersion: '' } },
    { title: 'namespaced kind without namespace', kind: 'ServiceImport', raw: { metadata: { name: 'web' } }, want: undefined },
    { title: 'no name', kind: 'Namespace', raw: { metadata: {} }, want: undefined },
    { title: 'a Namespace object with a namespace field still gets ""', kind: 'Namespace', raw: { metadata: { name: 'a', namespace: 'x' } }, want: { namespace: '', name: 'a', uid: '', resourceVersion: '' } },
  ];
  for (const c of refs) {
    it(`objectRef: ${c.title}`, () => assert.deepEqual(objectRef(c.kind, c.raw), c.want));
  }
});
