import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadKubeConfig } from '../services/agent/kubeconfig.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcsdns-kubeconfig-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function kubeconfig(fields: Record<string, unknown>): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      { name: 'east', cluster: { server: 'https://east.example:6443', 'certificate-authority': 'pki/ca.crt' } },
      { name: 'plain', cluster: { server: 'http://127.0.0.1:8080' } },
      { name: 'plain-ok', cluster: { server: 'http://127.0.0.1:8080', 'insecure-skip-tls-verify': true } },
    ],
    users: [
      { name: 'admin', user: { token: 'secret' } },
      { name: 'plugin', user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'get-token', args: ['--x'] } } },
    ],
    contexts: [
      { name: 'kubernetes-admin@kubernetes', context: { cluster: 'east', user: 'admin' } },
      { name: 'exec', context: { cluster: 'east', user: 'plugin' } },
      { name: 'plain', context: { cluster: 'plain', user: 'admin' } },
      { name: 'plain-ok', context: { cluster: 'plain-ok', user: 'admin' } },
      { name: 'lost-cluster', context: { cluster: 'nowhere', user: 'admin' } },
      { name: 'lost-user', context: { cluster: 'east', user: 'nobody' } },
    ],
    'current-context': 'kubernetes-admin@kubernetes',
    ...fields,
  };
}

function write(name: string, content: string | Record<string, unknown>): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : stringify(content));
  return path;
}

describe('loadKubeConfig', () => {
  it('loads the current context and makes file paths relative to the kubeconfig absolute', () => {
    const path = write('good.yaml', kubeconfig({}));
    const kc = loadKubeConfig({ kubeconfig: path });
    assert.equal(kc.getCurrentContext(), 'kubernetes-admin@kubernetes');
    assert.equal(kc.getCurrentCluster()?.server, 'https://east.example:6443');
    assert.equal(kc.getCurrentCluster()?.caFile, join(dir, 'pki/ca.crt'));
  });

  it('switches to a named context (exec and plain http with skip-verify are fine)', () => {
    const path = write('good2.yaml', kubeconfig({}));
    assert.equal(loadKubeConfig({ kubeconfig: path, context: 'exec' }).getCurrentUser()?.exec?.command, 'get-token');
    assert.equal(loadKubeConfig({ kubeconfig: path, context: 'plain-ok' }).getCurrentCluster()?.skipTLSVerify, true);
  });

  const available = 'available: kubernetes-admin@kubernetes, exec, plain, plain-ok, lost-cluster, lost-user';
  const failures: { title: string; file?: string | Record<string, unknown>; path?: string; context?: string; want: string | RegExp }[] = [
    { title: 'missing file', path: 'does-not-exist.yaml', want: /^cannot read kubeconfig .*does-not-exist\.yaml: no such file$/ },
    { title: 'a directory', path: '.', want: /^cannot read kubeconfig .*: it is a directory$/ },
    { title: 'bad YAML', file: 'clusters: [\n  - name: x\n  bad', want: /^kubeconfig .*bad-yaml\.yaml is not valid YAML: / },
    { title: 'YAML that is not a mapping', file: '- just\n- a list\n', want: /is not a kubeconfig \(expected a YAML mapping/ },
    { title: 'empty file', file: '', want: /is not a kubeconfig/ },
    {
      title: 'a cluster without server',
      file: kubeconfig({ clusters: [{ name: 'x', cluster: {} }] }),
      want: /is not valid: clusters\[0\]\.cluster\.server is missing$/,
    },
    { title: 'unknown context', file: kubeconfig({}), context: 'west', want: new RegExp(`has no context "west" \\(${available}\\)$`) },
    { title: 'no current context', file: kubeconfig({ 'current-context': undefined }), want: new RegExp(`has no current-context; name a context \\(${available}\\)$`) },
    {
      title: 'no contexts at all',
      file: { apiVersion: 'v1', kind: 'Config', clusters: [], users: [], contexts: [] },
      want: /has no current-context; name a context \(it defines no contexts\)$/,
    },
    { title: 'current-context not defined', file: kubeconfig({ 'current-context': 'gone' }), want: /current-context "gone" is not defined/ },
    { title: 'context names a missing cluster', file: kubeconfig({}), context: 'lost-cluster', want: /names cluster "nowhere", which is not defined$/ },
    { title: 'context names a missing user', file: kubeconfig({}), context: 'lost-user', want: /names user "nobody", which is not defined$/ },
    { title: 'plain http without skip-verify', file: kubeconfig({}), context: 'plain', want: /uses plain http; set insecure-skip-tls-verify: true for it$/ },
  ];
  for (const [i, f] of failures.entries()) {
    it(`fails with one clear line: ${f.title}`, () => {
      const name = f.title === 'bad YAML' ? 'bad-yaml.yaml' : `case-${i}.yaml`;
      const path = f.file !== undefined ? write(name, f.file) : join(dir, f.path ?? '');
      assert.throws(
        () => loadKubeConfig({ kubeconfig: path, ...(f.context !== undefined && { context: f.context }) }),
        (err: Error) => {
          assert.match(err.message, typeof f.want === 'string' ? new RegExp(f.want) : f.want);
          assert.doesNotMatch(err.message, /\n/);
          return true;
        },
      );
    });
  }

  it('a subdirectory is no kubeconfig either', () => {
    mkdirSync(join(dir, 'sub'));
    assert.throws(() => loadKubeConfig({ kubeconfig: join(dir, 'sub') }), /it is a directory/);
  });

  it('in-cluster needs the pod environment and excludes a kubeconfig', () => {
    const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
    delete process.env.KUBERNETES_SERVICE_HOST;
    delete process.env.KUBERNETES_SERVICE_PORT;
    try {
      assert.throws(() => loadKubeConfig({ inCluster: true }), /^Error: --in-cluster: not running in a Kubernetes pod/);
    } finally {
      if (saved.host !== undefined) process.env.KUBERNETES_SERVICE_HOST = saved.host;
      if (saved.port !== undefined) process.env.KUBERNETES_SERVICE_PORT = saved.port;
    }
    assert.throws(() => loadKubeConfig({ inCluster: true, kubeconfig: 'x' }), /either a kubeconfig or --in-cluster, not both/);
    assert.throws(() => loadKubeConfig({}), /no kubeconfig given/);
  });
});
