import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import * as k8s from '@kubernetes/client-node';
import { StandInApiServer, labelsMatch, parseLabelSelector, type StandInOptions } from './k8s/apiServer.js';

const SERVICE_NAME_LABEL = 'multicluster.kubernetes.io/service-name';
const SERVICE_IMPORTS = '/apis/multicluster.x-k8s.io/v1beta1/serviceimports';

const tempDir = mkdtempSync(join(tmpdir(), 'standin-apiserver-'));
after(() => rmSync(tempDir, { recursive: true, force: true }));

function serviceImport(namespace: string, name: string, ips: string[]) {
  return {
    apiVersion: 'multicluster.x-k8s.io/v1beta1',
    kind: 'ServiceImport',
    metadata: { name, namespace },
    spec: { type: 'ClusterSetIP', ips, ports: [{ name: 'http', protocol: 'TCP', port: 80 }] },
  };
}

function endpointSlice(namespace: string, name: string, labels: Record<string, string>) {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace, labels },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['10.1.0.1'], conditions: { ready: true } }],
    ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
  };
}

function namespace(name: string) {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name } };
}

// A KubeConfig as the agent gets one: loaded from the file the stand-in wrote.
function kubeConfigFor(server: StandInApiServer, opts: { token?: string } = {}): k8s.KubeConfig {
  const path = join(tempDir, `kubeconfig-${Math.random().toString(36).slice(2)}`);
  server.writeKubeconfig(path, opts);
  const kubeConfig = new k8s.KubeConfig();
  kubeConfig.loadFromFile(path);
  return kubeConfig;
}

async function until(condition: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

interface InformerLog {
  added: string[];
  updated: string[];
  deleted: string[];
  errors: unknown[];
}

function loggedInformer<T extends k8s.KubernetesObject>(
  kubeConfig: k8s.KubeConfig,
  path: string,
  list: k8s.ListPromise<T>,
  labelSelector?: string,
) {
  const informer = k8s.makeInformer<T>(kubeConfig, path, list, labelSelector);
  const log: InformerLog = { added: [], updated: [], deleted: [], errors: [] };
  const nameOf = (object: k8s.KubernetesObject): string =>
    [object.metadata?.namespace, object.metadata?.name].filter((part) => part !== undefined).join('/');
  informer.on('add', (object) => log.added.push(nameOf(object)));
  informer.on('update', (object) => log.updated.push(nameOf(object)));
  informer.on('delete', (object) => log.deleted.push(nameOf(object)));
  informer.on('error', (error) => log.errors.push(error));
  return { informer, log };
}

function serviceImportInformer(kubeConfig: k8s.KubeConfig) {
  const customObjects = kubeConfig.makeApiClient(k8s.CustomObjectsApi);
  return loggedInformer<k8s.KubernetesObject>(kubeConfig, SERVICE_IMPORTS, () =>
    customObjects.listClusterCustomObject({ group: 'multicluster.x-k8s.io', version: 'v1beta1', plural: 'serviceimports' }),
  );
}

interface RawWatch {
  status: number;
  contentType: string | null;
  events: { type: string; object: any }[];
  // Resolves true when the server ended the stream cleanly, false when it broke or was closed by us.
  ended: Promise<boolean>;
  close(): void;
}

async function rawWatch(url: string, headers: Record<string, string> = {}): Promise<RawWatch> {
  const controller = new AbortController();
  const response = await fetch(url, { headers, signal: controller.signal });
  const events: RawWatch['events'] = [];
  const ended = (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of response.body!) {
        buffer += decoder.decode(chunk, { stream: true });
        for (let end = buffer.indexOf('\n'); end >= 0; end = buffer.indexOf('\n')) {
          events.push(JSON.parse(buffer.slice(0, end)));
          buffer = buffer.slice(end + 1);
        }
      }
      return true;
    } catch {
      return false;
    }
  })();
  return { status: response.status, contentType: response.headers.get('content-type'), events, ended, close: () => controller.abort() };
}

async function getJson(url: string, headers: Record<string, string> = {}): Promise<{ status: number; contentType: string | null; body: any }> {
  const response = await fetch(url, { headers });
  return { status: response.status, contentType: response.headers.get('content-type'), body: await response.json() };
}

async function withServer(options: StandInOptions, body: (server: StandInApiServer) => Promise<void>): Promise<void> {
  const server = await StandInApiServer.start(options);
  try {
    await body(server);
  } finally {
    await server.stop();
  }
}

describe('label selectors', () => {
  const labels = { app: 'web', tier: 'front', [SERVICE_NAME_LABEL]: 'web' };
  const cases: [selector: string, matches: boolean][] = [
    ['', true],
    ['app', true],
    ['!app', false],
    ['!missing', true],
    ['app=web', true],
    ['app==web', true],
    ['app=db', false],
    ['app!=db', true],
    ['missing!=db', true],
    ['app in (db, web)', true],
    ['app in (db)', false],
    ['missing in (web)', false],
    ['app notin (db,cache)', true],
    ['app notin (web)', false],
    ['missing notin (web)', true],
    ['app=web,tier=front', true],
    ['app=web,tier in (back)', false],
    [`${SERVICE_NAME_LABEL}`, true],
    [`${SERVICE_NAME_LABEL}=web, !other`, true],
  ];
  for (const [selector, matches] of cases) {
    test(`"${selector}" ${matches ? 'matches' : 'does not match'}`, () => {
      assert.equal(labelsMatch(parseLabelSelector(selector), labels), matches);
    });
  }
  for (const malformed of ['app in ()', '=web', 'app,,tier', 'app in (a', 'app > 3', 'a b']) {
    test(`"${malformed}" is rejected`, () => assert.throws(() => parseLabelSelector(malformed)));
  }
  test('"app=" selects the empty value', () => {
    assert.equal(labelsMatch(parseLabelSelector('app='), { app: '' }), true);
    assert.equal(labelsMatch(parseLabelSelector('app='), { app: 'web' }), false);
  });
});

describe('discovery', () => {
  test('serves version, core and group documents with both ServiceImport versions by default', () =>
    withServer({}, async (server) => {
      const version = await getJson(`${server.url}/version`);
      assert.equal(version.status, 200);
      assert.equal(version.contentType, 'application/json');
      assert.equal(version.body.major, '1');

      const coreVersions = await kubeConfigFor(server).makeApiClient(k8s.CoreApi).getAPIVersions();
      assert.deepEqual(coreVersions.versions, ['v1']);

      const core = await getJson(`${server.url}/api/v1`);
      assert.equal(core.body.kind, 'APIResourceList');
      assert.deepEqual(
        core.body.resources.map((resource: any) => [resource.name, resource.kind, resource.namespaced]),
        [['namespaces', 'Namespace', false]],
      );

      const groups = await kubeConfigFor(server).makeApiClient(k8s.ApisApi).getAPIVersions();
      const multicluster = groups.groups.find((group) => group.name === 'multicluster.x-k8s.io');
      assert.deepEqual(
        multicluster?.versions.map((version) => version.groupVersion),
        ['multicluster.x-k8s.io/v1beta1', 'multicluster.x-k8s.io/v1alpha1'],
      );
      assert.equal(multicluster?.preferredVersion?.version, 'v1beta1');
      assert.ok(groups.groups.some((group) => group.name === 'discovery.k8s.io'));

      const group = await getJson(`${server.url}/apis/multicluster.x-k8s.io`);
      assert.equal(group.body.kind, 'APIGroup');
      assert.equal(group.body.preferredVersion.groupVersion, 'multicluster.x-k8s.io/v1beta1');

      for (const version of ['v1beta1', 'v1alpha1']) {
        const resources = await getJson(`${server.url}/apis/multicluster.x-k8s.io/${version}`);
        assert.equal(resources.body.groupVersion, `multicluster.x-k8s.io/${version}`);
        assert.deepEqual(resources.body.resources.map((resource: any) => resource.name), ['serviceimports']);
      }
      const slices = await getJson(`${server.url}/apis/discovery.k8s.io/v1`);
      assert.deepEqual(slices.body.resources.map((resource: any) => [resource.name, resource.namespaced]), [['endpointslices', true]]);
    }));

  test('serves only the configured ServiceImport versions, and no group when none', async () => {
    await withServer({ serviceImportVersions: ['v1alpha1'] }, async (server) => {
      const group = await getJson(`${server.url}/apis/multicluster.x-k8s.io`);
      assert.deepEqual(group.body.versions, [{ groupVersion: 'multicluster.x-k8s.io/v1alpha1', version: 'v1alpha1' }]);
      const missing = await getJson(`${server.url}/apis/multicluster.x-k8s.io/v1beta1`);
      assert.equal(missing.status, 404);
      assert.equal(missing.body.kind, 'Status');
      assert.equal((await getJson(`${server.url}/apis/multicluster.x-k8s.io/v1beta1/serviceimports`)).status, 404);
      assert.equal((await getJson(`${server.url}/apis/multicluster.x-k8s.io/v1alpha1/serviceimports`)).status, 200);
    });
    await withServer({ serviceImportVersions: [] }, async (server) => {
      const groups = await getJson(`${server.url}/apis`);
      assert.deepEqual(groups.body.groups.map((group: any) => group.name), ['discovery.k8s.io']);
      const missing = await getJson(`${server.url}/apis/multicluster.x-k8s.io`);
      assert.equal(missing.status, 404);
      assert.equal(missing.body.reason, 'NotFound');
    });
  });

  test('unknown paths get a 404 Status', () =>
    withServer({}, async (server) => {
      for (const path of ['/nope', '/api/v2', '/apis/apps/v1', '/api/v1/pods', '/api/v1/namespaces/a/b/c']) {
        const response = await getJson(server.url + path);
        assert.equal(response.status, 404, path);
        assert.equal(response.contentType, 'application/json');
        assert.equal(response.body.kind, 'Status');
      }
    }));
});

describe('lists', () => {
  let server: StandInApiServer;
  before(async () => {
    server = await StandInApiServer.start();
    server.upsert(endpointSlice('a', 'web-1', { [SERVICE_NAME_LABEL]: 'web' }));
    server.upsert(endpointSlice('b', 'web-2', { [SERVICE_NAME_LABEL]: 'web', zone: 'z1' }));
    server.upsert(endpointSlice('a', 'plain', { 'kubernetes.io/service-name': 'plain' }));
    server.upsert(serviceImport('a', 'web', ['10.0.0.1']));
  });
  after(() => server.stop());

  test('client-node typed lists apply the label selector', async () => {
    const discovery = kubeConfigFor(server).makeApiClient(k8s.DiscoveryV1Api);
    const all = await discovery.listEndpointSliceForAllNamespaces();
    assert.equal(all.items.length, 3);
    const exported = await discovery.listEndpointSliceForAllNamespaces({ labelSelector: SERVICE_NAME_LABEL });
    assert.deepEqual(exported.items.map((slice) => slice.metadata?.name), ['web-1', 'web-2']);
    assert.equal(exported.items[0]?.endpoints[0]?.addresses[0], '10.1.0.1');
    const zoned = await discovery.listEndpointSliceForAllNamespaces({ labelSelector: `${SERVICE_NAME_LABEL}=web,zone in (z1,z2)` });
    assert.deepEqual(zoned.items.map((slice) => slice.metadata?.name), ['web-2']);
    const namespaced = await discovery.listNamespacedEndpointSlice({ namespace: 'a', fieldSelector: 'metadata.name==plain' });
    assert.deepEqual(namespaced.items.map((slice) => slice.metadata?.name), ['plain']);
  });

  test('raw lists carry kind, apiVersion and the current resourceVersion', async () => {
    const list = await getJson(`${server.url}/apis/multicluster.x-k8s.io/v1alpha1/serviceimports`);
    assert.equal(list.body.kind, 'ServiceImportList');
    assert.equal(list.body.apiVersion, 'multicluster.x-k8s.io/v1alpha1');
    assert.equal(list.body.items[0].apiVersion, 'multicluster.x-k8s.io/v1alpha1');
    assert.equal(list.body.items[0].kind, 'ServiceImport');
    assert.equal(list.body.metadata.resourceVersion, list.body.items[0].metadata.resourceVersion);
    const byField = await getJson(`${server.url}/apis/discovery.k8s.io/v1/endpointslices?fieldSelector=metadata.namespace%3Db`);
    assert.deepEqual(byField.body.items.map((slice: any) => slice.metadata.name), ['web-2']);
    const bad = await getJson(`${server.url}/apis/discovery.k8s.io/v1/endpointslices?fieldSelector=spec.x%3D1`);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.reason, 'BadRequest');
  });

  test('single objects by name, 404 Status when absent', async () => {
    const customObjects = kubeConfigFor(server).makeApiClient(k8s.CustomObjectsApi);
    const found = await customObjects.getNamespacedCustomObject({
      group: 'multicluster.x-k8s.io',
      version: 'v1beta1',
      namespace: 'a',
      plural: 'serviceimports',
      name: 'web',
    });
    assert.deepEqual(found.spec.ips, ['10.0.0.1']);
    const missing = await getJson(`${server.url}/apis/multicluster.x-k8s.io/v1beta1/namespaces/b/serviceimports/web`);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.message, 'serviceimports.multicluster.x-k8s.io "web" not found');
  });

  test('upsert keeps uid and creationTimestamp and bumps resourceVersion; get and list agree', () => {
    const before = server.get('EndpointSlice', 'a', 'web-1');
    const after = server.upsert({ ...endpointSlice('a', 'web-1', { [SERVICE_NAME_LABEL]: 'web' }), addressType: 'IPv6' });
    assert.equal(after.metadata.uid, before.metadata.uid);
    assert.equal(after.metadata.creationTimestamp, before.metadata.creationTimestamp);
    assert.ok(Number(after.metadata.resourceVersion) > Number(before.metadata.resourceVersion));
    assert.deepEqual(server.get('EndpointSlice', 'a', 'web-1'), after);
    assert.deepEqual(
      server.list('EndpointSlice').map((slice) => slice.metadata.name),
      ['plain', 'web-1', 'web-2'],
    );
    assert.throws(() => server.upsert({ kind: 'Pod', metadata: { name: 'x' } }));
  });
});

test('pagination with limit and _continue; an expired continue token gets 410', () =>
  withServer({}, async (server) => {
    const names = ['n1', 'n2', 'n3', 'n4', 'n5'];
    for (const name of names) server.upsert(namespace(name));
    const core = kubeConfigFor(server).makeApiClient(k8s.CoreV1Api);
    const seen: string[] = [];
    let first = await core.listNamespace({ limit: 2 });
    assert.equal(first.metadata?.remainingItemCount, 3);
    let page = first;
    for (;;) {
      seen.push(...page.items.map((item) => item.metadata!.name!));
      assert.equal(page.metadata?.resourceVersion, first.metadata?.resourceVersion);
      if (!page.metadata?._continue) break;
      page = await core.listNamespace({ limit: 2, _continue: page.metadata._continue });
    }
    assert.deepEqual(seen, names);

    first = await core.listNamespace({ limit: 2 });
    server.expireHistory();
    await assert.rejects(core.listNamespace({ limit: 2, _continue: first.metadata!._continue! }), (error: any) => error.code === 410);
  }));

describe('informers', () => {
  test('an informer receives add, update and delete', () =>
    withServer({}, async (server) => {
      server.upsert(serviceImport('a', 'existing', ['10.0.0.1']));
      const { informer, log } = serviceImportInformer(kubeConfigFor(server));
      await informer.start();
      await server.waitForWatches(1, 'ServiceImport');
      assert.deepEqual(log.added, ['a/existing']);

      server.upsert(serviceImport('b', 'new', ['10.0.0.2']));
      server.upsert(serviceImport('a', 'existing', ['10.0.0.9']));
      server.delete('ServiceImport', 'a', 'existing');
      server.upsert(endpointSlice('a', 'unrelated', {}));
      await until(() => log.deleted.length === 1, 'the delete callback');
      assert.deepEqual(log.added, ['a/existing', 'b/new']);
      assert.deepEqual(log.updated, ['a/existing']);
      assert.deepEqual(log.deleted, ['a/existing']);
      assert.deepEqual(informer.list().map((object) => object.metadata?.name), ['new']);
      assert.equal(log.errors.length, 0);
      await informer.stop();
    }));

  test('a label-selector EndpointSlice informer sees slices enter and leave the selector; a Namespace informer works', () =>
    withServer({}, async (server) => {
      const kubeConfig = kubeConfigFor(server);
      const discovery = kubeConfig.makeApiClient(k8s.DiscoveryV1Api);
      const slices = loggedInformer(
        kubeConfig,
        '/apis/discovery.k8s.io/v1/endpointslices',
        () => discovery.listEndpointSliceForAllNamespaces({ labelSelector: SERVICE_NAME_LABEL }),
        SERVICE_NAME_LABEL,
      );
      const core = kubeConfig.makeApiClient(k8s.CoreV1Api);
      const namespaces = loggedInformer(kubeConfig, '/api/v1/namespaces', () => core.listNamespace());
      server.upsert(endpointSlice('a', 'listed', { [SERVICE_NAME_LABEL]: 'web' }));
      server.upsert(endpointSlice('a', 'ignored', {}));
      server.upsert(namespace('a'));
      await slices.informer.start();
      await namespaces.informer.start();
      await server.waitForWatches(1, 'EndpointSlice');
      await server.waitForWatches(1, 'Namespace');
      assert.deepEqual(slices.log.added, ['a/listed']);
      assert.deepEqual(namespaces.log.added, ['a']);

      server.upsert(endpointSlice('a', 'ignored', { [SERVICE_NAME_LABEL]: 'other' }));
      server.upsert(endpointSlice('a', 'listed', { unrelated: 'label' }));
      server.delete('Namespace', '', 'a');
      await until(() => slices.log.deleted.length === 1 && namespaces.log.deleted.length === 1, 'the deletes');
      assert.deepEqual(slices.log.added, ['a/listed', 'a/ignored']);
      assert.deepEqual(slices.log.deleted, ['a/listed']);
      assert.deepEqual(namespaces.log.deleted, ['a']);
      await slices.informer.stop();
      await namespaces.informer.stop();
    }));

  for (const watch410AsEvent of [false, true]) {
    test(`after expireHistory a resumed watch gets 410 (${watch410AsEvent ? 'ERROR event' : 'HTTP status'}) and the informer re-lists`, () =>
      withServer({ watch410AsEvent }, async (server) => {
        server.upsert(serviceImport('a', 'kept', ['10.0.0.1']));
        server.upsert(serviceImport('a', 'removed', ['10.0.0.2']));
        const { informer, log } = serviceImportInformer(kubeConfigFor(server));
        await informer.start();
        await server.waitForWatches(1, 'ServiceImport');

        server.dropWatches();
        await until(() => log.errors.length === 1, 'the error callback');
        server.delete('ServiceImport', 'a', 'removed');
        server.upsert(serviceImport('a', 'created', ['10.0.0.3']));
        server.expireHistory();
        const listsBefore = server.requests.filter((request) => request.path === SERVICE_IMPORTS && !request.query.includes('watch')).length;

        await informer.start();
        await until(() => log.deleted.length === 1 && server.activeWatches('ServiceImport') === 1, 're-list and new watch');
        assert.deepEqual(log.deleted, ['a/removed']);
        assert.deepEqual(log.added, ['a/kept', 'a/removed', 'a/created']);
        const watches = server.requests.filter((request) => request.query.includes('watch=true'));
        assert.equal(watches[1]?.status, watch410AsEvent ? 200 : 410);
        const listsAfter = server.requests.filter((request) => request.path === SERVICE_IMPORTS && !request.query.includes('watch')).length;
        assert.equal(listsAfter, listsBefore + 1);
        assert.equal(log.errors.length, 1);
        await informer.stop();
      }));
  }

  test('dropWatches makes an informer report an error; start() resumes from its resourceVersion', () =>
    withServer({}, async (server) => {
      const { informer, log } = serviceImportInformer(kubeConfigFor(server));
      await informer.start();
      await server.waitForWatches(1, 'ServiceImport');
      server.dropWatches();
      assert.equal(server.activeWatches(), 0);
      await until(() => log.errors.length === 1, 'the error callback');
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(server.activeWatches(), 0, 'the informer stays stopped');

      server.upsert(serviceImport('a', 'while-down', ['10.0.0.1']));
      await informer.start();
      await until(() => log.added.length === 1, 'the add replayed from history');
      assert.deepEqual(log.added, ['a/while-down']);
      const lists = server.requests.filter((request) => request.path === SERVICE_IMPORTS && !request.query.includes('watch'));
      assert.equal(lists.length, 1, 'no second list');
      await informer.stop();
    }));

  test('failNextRequests fails lists with a Status, then requests succeed again', () =>
    withServer({}, async (server) => {
      server.failNextRequests(2, 503);
      const raw = await getJson(`${server.url}/api/v1/namespaces`);
      assert.equal(raw.status, 503);
      assert.deepEqual([raw.body.kind, raw.body.code, raw.body.reason], ['Status', 503, 'ServiceUnavailable']);

      const { informer, log } = serviceImportInformer(kubeConfigFor(server));
      await informer.start();
      await until(() => log.errors.length === 1, 'the error callback');
      assert.equal((log.errors[0] as { code?: number }).code, 503);

      server.failNextRequests(1);
      assert.equal((await getJson(`${server.url}/version`)).status, 500);
      assert.equal((await getJson(`${server.url}/version`)).status, 200);
    }));
});

describe('auth', () => {
  let server: StandInApiServer;
  before(async () => {
    server = await StandInApiServer.start({ tokens: ['good'], basicAuth: { username: 'admin', password: 'secret' } });
  });
  after(() => server.stop());

  test('the written kubeconfig carries the token and works', async () => {
    const core = kubeConfigFor(server).makeApiClient(k8s.CoreV1Api);
    assert.deepEqual((await core.listNamespace()).items, []);
  });

  test('a wrong token gets 401 through client-node, also for informers', async () => {
    const kubeConfig = kubeConfigFor(server, { token: 'bad' });
    await assert.rejects(kubeConfig.makeApiClient(k8s.CoreV1Api).listNamespace(), (error: any) => error.code === 401);
    const { informer, log } = serviceImportInformer(kubeConfig);
    await informer.start();
    await until(() => log.errors.length === 1, 'the error callback');
  });

  test('missing or wrong credentials get a 401 Status; basic auth is accepted', async () => {
    const missing = await getJson(`${server.url}/api/v1/namespaces`);
    assert.equal(missing.status, 401);
    assert.deepEqual([missing.body.kind, missing.body.reason], ['Status', 'Unauthorized']);
    const basic = (credentials: string) => ({ Authorization: `Basic ${Buffer.from(credentials).toString('base64')}` });
    assert.equal((await getJson(`${server.url}/api/v1/namespaces`, basic('admin:secret'))).status, 200);
    assert.equal((await getJson(`${server.url}/api/v1/namespaces`, basic('admin:wrong'))).status, 401);
    const watch = await rawWatch(`${server.url}/api/v1/namespaces?watch=true`, { Authorization: 'Bearer nope' });
    assert.equal(watch.status, 401);
    await watch.ended;
  });
});

describe('raw watches', () => {
  test('a label-selector watch sees objects leave as DELETED and enter as ADDED', () =>
    withServer({}, async (server) => {
      server.upsert(endpointSlice('a', 's1', { [SERVICE_NAME_LABEL]: 'web' }));
      const watch = await rawWatch(
        `${server.url}/apis/discovery.k8s.io/v1/endpointslices?watch=1&labelSelector=${encodeURIComponent(SERVICE_NAME_LABEL)}`,
      );
      assert.equal(watch.contentType, 'application/json');
      await until(() => watch.events.length === 1, 'the initial ADDED');
      const left = server.upsert(endpointSlice('a', 's1', { other: 'x' }));
      server.upsert(endpointSlice('a', 's1', { other: 'y' }));
      server.upsert(endpointSlice('a', 's1', { [SERVICE_NAME_LABEL]: 'web' }));
      server.upsert(endpointSlice('a', 's1', { [SERVICE_NAME_LABEL]: 'web', changed: 'yes' }));
      server.delete('EndpointSlice', 'a', 's1');
      await until(() => watch.events.length === 5, 'five events');
      assert.deepEqual(
        watch.events.map((event) => event.type),
        ['ADDED', 'DELETED', 'ADDED', 'MODIFIED', 'DELETED'],
      );
      const deleted = watch.events[1]!.object;
      assert.equal(deleted.metadata.labels[SERVICE_NAME_LABEL], 'web', 'the DELETED carries the last matching content');
      assert.equal(deleted.metadata.resourceVersion, left.metadata.resourceVersion);
      assert.equal(deleted.apiVersion, 'discovery.k8s.io/v1');
      watch.close();
      await watch.ended;
    }));

  test('a watch from a resourceVersion replays history in its namespace; events stay within kind and namespace', () =>
    withServer({}, async (server) => {
      const start = server.upsert(serviceImport('a', 'first', ['10.0.0.1'])).metadata.resourceVersion;
      server.upsert(serviceImport('a', 'second', ['10.0.0.2']));
      server.upsert(serviceImport('b', 'other', ['10.0.0.3']));
      server.delete('ServiceImport', 'a', 'first');
      const watch = await rawWatch(`${server.url}/apis/multicluster.x-k8s.io/v1alpha1/namespaces/a/serviceimports?watch=true&resourceVersion=${start}`);
      await until(() => watch.events.length === 2, 'the replay');
      server.upsert(namespace('a'));
      server.upsert(serviceImport('b', 'other2', ['10.0.0.4']));
      server.upsert(serviceImport('a', 'third', ['10.0.0.5']));
      await until(() => watch.events.length === 3, 'the live event');
      assert.deepEqual(
        watch.events.map((event) => `${event.type} ${event.object.metadata.name} ${event.object.apiVersion}`),
        [
          'ADDED second multicluster.x-k8s.io/v1alpha1',
          'DELETED first multicluster.x-k8s.io/v1alpha1',
          'ADDED third multicluster.x-k8s.io/v1alpha1',
        ],
      );
      watch.close();
      await watch.ended;
    }));

  test('an expired resourceVersion gets HTTP 410 with a Status, or an ERROR event with watch410AsEvent', async () => {
    for (const watch410AsEvent of [false, true]) {
      await withServer({ watch410AsEvent }, async (server) => {
        const old = server.upsert(namespace('a')).metadata.resourceVersion;
        server.expireHistory();
        const expiredWatch = `${server.url}/api/v1/namespaces?watch=true&resourceVersion=${old}`;
        if (watch410AsEvent) {
          const watch = await rawWatch(expiredWatch);
          assert.deepEqual([watch.status, watch.contentType, await watch.ended], [200, 'application/json', true]);
          assert.deepEqual(watch.events.map((event) => [event.type, event.object.kind, event.object.code, event.object.reason]), [
            ['ERROR', 'Status', 410, 'Expired'],
          ]);
        } else {
          const gone = await getJson(expiredWatch);
          assert.deepEqual([gone.status, gone.contentType], [410, 'application/json']);
          assert.deepEqual([gone.body.kind, gone.body.code, gone.body.reason], ['Status', 410, 'Expired']);
        }
        const current = (await getJson(`${server.url}/api/v1/namespaces`)).body.metadata.resourceVersion;
        const fresh = await rawWatch(`${server.url}/api/v1/namespaces?watch=true&resourceVersion=${current}`);
        assert.equal(fresh.status, 200);
        await server.waitForWatches(1, 'Namespace');
        fresh.close();
      });
    }
  });

  test('bookmarks reach only watches that asked for them', () =>
    withServer({}, async (server) => {
      const current = server.upsert(namespace('before-bookmark')).metadata.resourceVersion;
      const path = `${server.url}/api/v1/namespaces?watch=true&resourceVersion=${current}`;
      const withBookmarks = await rawWatch(`${path}&allowWatchBookmarks=true`);
      const without = await rawWatch(path);
      await server.waitForWatches(2, 'Namespace');
      server.sendBookmarks();
      server.upsert(namespace('after-bookmark'));
      await until(() => withBookmarks.events.length === 2 && without.events.length === 1, 'the events');
      assert.deepEqual(withBookmarks.events[0], {
        type: 'BOOKMARK',
        object: { kind: 'Namespace', apiVersion: 'v1', metadata: { resourceVersion: current } },
      });
      assert.deepEqual(without.events.map((event) => event.type), ['ADDED']);
      withBookmarks.close();
      without.close();
    }));

  test('timeoutSeconds ends the stream cleanly; dropWatches breaks it', () =>
    withServer({}, async (server) => {
      const started = Date.now();
      const timed = await rawWatch(`${server.url}/api/v1/namespaces?watch=true&timeoutSeconds=1`);
      assert.equal(await timed.ended, true);
      assert.ok(Date.now() - started >= 900);
      assert.equal(server.activeWatches(), 0);

      const dropped = await rawWatch(`${server.url}/api/v1/namespaces?watch=true`);
      await server.waitForWatches(1);
      server.dropWatches();
      assert.equal(await dropped.ended, false);
    }));

  test('stop() closes open watches', async () => {
    const server = await StandInApiServer.start();
    const watch = await rawWatch(`${server.url}/api/v1/namespaces?watch=true`);
    await server.waitForWatches(1);
    await server.stop();
    assert.equal(await watch.ended, false);
  });
});

describe('cli', () => {
  const cli = join(import.meta.dirname, 'k8s', 'cli.ts');
  const run = (args: string[]) => spawn(process.execPath, ['--import', 'tsx', cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });

  test('loads objects, writes a kubeconfig, prints the URL, stops on SIGTERM', async () => {
    const objects = join(tempDir, 'objects.yaml');
    const kubeconfigPath = join(tempDir, 'cli-kubeconfig');
    writeFileSync(
      objects,
      [namespace('demo'), serviceImport('demo', 'web', ['10.0.0.1'])].map((object) => JSON.stringify(object)).join('\n---\n'),
    );
    const child = run(['--objects', objects, '--kubeconfig', kubeconfigPath, '--token', 'cli-token', '--context', 'demo']);
    try {
      const [firstChunk] = (await once(child.stdout, 'data')) as [Buffer];
      const url = firstChunk.toString().trim();
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const kubeConfig = new k8s.KubeConfig();
      kubeConfig.loadFromFile(kubeconfigPath);
      assert.equal(kubeConfig.getCurrentContext(), 'demo');
      const customObjects = kubeConfig.makeApiClient(k8s.CustomObjectsApi);
      const list = await customObjects.listClusterCustomObject({ group: 'multicluster.x-k8s.io', version: 'v1beta1', plural: 'serviceimports' });
      assert.deepEqual(list.items.map((item: any) => item.metadata.name), ['web']);
      assert.equal((await fetch(`${url}/api/v1/namespaces`)).status, 401);
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = await once(child, 'exit');
    assert.equal(code, 0);
  });

  test('a bad flag is one line on stderr and exit code 2', async () => {
    const child = run(['--port', 'many']);
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const [code] = await once(child, 'exit');
    assert.equal(code, 2);
    assert.equal(stderr.trim().split('\n').length, 1);
    assert.match(stderr, /--port/);
  });
});
