import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseClusterSpec, type ClusterSpec } from '../services/agent/clusterSpec.js';

describe('parseClusterSpec', () => {
  const good: [string, ClusterSpec][] = [
    ['east=/etc/kube/east.yaml', { id: 'east', kubeconfig: '/etc/kube/east.yaml' }],
    ['east=kube.yaml@east-admin', { id: 'east', kubeconfig: 'kube.yaml', context: 'east-admin' }],
    [
      'c1=/k/admin.conf@kubernetes-admin@kubernetes',
      { id: 'c1', kubeconfig: '/k/admin.conf', context: 'kubernetes-admin@kubernetes' },
    ],
    ['a=b=c@d', { id: 'a', kubeconfig: 'b=c', context: 'd' }],
    ['x-1=./rel/path', { id: 'x-1', kubeconfig: './rel/path' }],
  ];
  for (const [flag, want] of good) {
    it(`parses ${flag}`, () => assert.deepEqual(parseClusterSpec(flag), want));
  }

  const bad: [string, RegExp][] = [
    ['east', /no "="/],
    ['=kube.yaml', /cluster id "" must be an RFC 1123 label/],
    ['East=kube.yaml', /cluster id "East"/],
    ['-east=kube.yaml', /cluster id "-east"/],
    ['e.st=kube.yaml', /cluster id "e.st"/],
    [`${'a'.repeat(64)}=kube.yaml`, /must be an RFC 1123 label/],
    ['east=', /kubeconfig path is empty/],
    ['east=@ctx', /kubeconfig path is empty/],
    ['east=kube.yaml@', /context name after "@" is empty/],
  ];
  for (const [flag, want] of bad) {
    it(`rejects ${JSON.stringify(flag)} with one line`, () => {
      assert.throws(
        () => parseClusterSpec(flag),
        (err: Error) => {
          assert.match(err.message, want);
          assert.match(err.message, /^--cluster .*expected ID=KUBECONFIG\[@CONTEXT\]/);
          assert.doesNotMatch(err.message, /\n/);
          return true;
        },
      );
    });
  }
});
