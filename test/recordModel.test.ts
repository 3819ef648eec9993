import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { seededRandom } from './support/random.js';
import { serviceRecords, serviceRecordsByCluster, type ImportRow, type SliceRow } from '../shared/recordModel.js';
import type { Endpoint, ServicePort } from '../shared/events.js';

const http: ServicePort = { name: 'http', protocol: 'TCP', port: 80 };
const dnsUdp: ServicePort = { name: 'dns', protocol: 'UDP', port: 53 };
const unnamed: ServicePort = { name: '', protocol: 'TCP', port: 9000 };

function clusterSetIP(cluster: string, ips: string[], ports: ServicePort[] = [http]): ImportRow {
  return { cluster, object: { type: 'ClusterSetIP', ips, ports } };
}
function headless(cluster: string, ports: ServicePort[] = [http]): ImportRow {
  return { cluster, object: { type: 'Headless', ips: [], ports } };
}
function slice(cluster: string, endpoints: Endpoint[], sourceCluster?: string, addressType: 'IPv4' | 'IPv6' = 'IPv4'): SliceRow {
  return {
    cluster,
    object: { serviceName: 'db', addressType, endpoints, ports: [http], ...(sourceCluster ? { sourceCluster } : {}) },
  };
}
const ep = (address: string, hostname?: string, ready = true): Endpoint => ({
  addresses: [address],
  ready,
  ...(hostname ? { hostname } : {}),
});

describe('record model: ClusterSetIP services', () => {
  const cases: {
    title: string;
    imports: ImportRow[];
    want: Record<string, unknown[]> | undefined;
  }[] = [
    {
      title: 'not imported: no names',
      imports: [],
      want: undefined,
    },
    {
      title: 'dual-stack union over clusters, each IP once, SRV per named port and at the bare name',
      imports: [clusterSetIP('east', ['10.0.0.1', 'fd00::1']), clusterSetIP('west', ['10.0.0.2', '10.0.0.1'])],
      want: {
        '_http._tcp.web.prod.svc': [{ type: 'SRV', priority: 0, weight: 100, port: 80, target: 'web.prod.svc' }],
        'web.prod.svc': [
          { type: 'A', address: '10.0.0.1' },
          { type: 'A', address: '10.0.0.2' },
          { type: 'AAAA', address: 'fd00::1' },
          { type: 'SRV', priority: 0, weight: 100, port: 80, target: 'web.prod.svc' },
        ],
      },
    },
    {
      title: 'unnamed ports have no SRV name; several named ports share the bare-name SRV weight',
      imports: [clusterSetIP('east', ['10.0.0.1'], [http, dnsUdp, unnamed])],
      want: {
        '_dns._udp.web.prod.svc': [{ type: 'SRV', priority: 0, weight: 100, port: 53, target: 'web.prod.svc' }],
        '_http._tcp.web.prod.svc': [{ type: 'SRV', priority: 0, weight: 100, port: 80, target: 'web.prod.svc' }],
        'web.prod.svc': [
          { type: 'A', address: '10.0.0.1' },
          { type: 'SRV', priority: 0, weight: 50, port: 53, target: 'web.prod.svc' },
          { type: 'SRV', priority: 0, weight: 50, port: 80, target: 'web.prod.svc' },
        ],
      },
    },
    {
      title: 'an import without IPs yet still owns its name (NODATA, not NXDOMAIN)',
      imports: [clusterSetIP('east', [], [])],
      want: { 'web.prod.svc': [] },
    },
    {
      title: 'one cluster ClusterSetIP, one headless: ClusterSetIP wins with the IPs it has',
      imports: [clusterSetIP('east', ['10.0.0.9'], []), headless('west', [])],
      want: { 'web.prod.svc': [{ type: 'A', address: '10.0.0.9' }] },
    },
    {
      title: 'invalid IP strings are ignored',
      imports: [clusterSetIP('east', ['10.0.0.300', 'not-an-ip', '10.0.0.3'], [])],
      want: { 'web.prod.svc': [{ type: 'A', address: '10.0.0.3' }] },
    },
  ];
  for (const c of cases) {
    it(c.title, () => {
      const got = serviceRecords('prod', 'web', c.imports, [slice('east', [ep('10.9.9.9', 'ignored')])]);
      assert.deepEqual(got?.names, c.want);
    });
  }
});

describe('record model: headless services', () => {
  it('unions ready endpoints of every cluster, with per-endpoint names and SRV targets', () => {
    const got = serviceRecords(
      'prod',
      'db',
      [headless('east'), headless('west')],
      [
        slice('east', [ep('10.1.0.1', 'db-0'), ep('10.1.0.2', undefined, false)]),
        slice('west', [ep('10.2.0.1')]),
      ],
    );
    assert.deepEqual(got?.names, {
      '10-2-0-1.west.db.prod.svc': [{ type: 'A', address: '10.2.0.1' }],
      '_http._tcp.db.prod.svc': [
        { type: 'SRV', priority: 0, weight: 50, port: 80, target: '10-2-0-1.west.db.prod.svc' },
        { type: 'SRV', priority: 0, weight: 50, port: 80, target: 'db-0.east.db.prod.svc' },
      ],
      'db-0.east.db.prod.svc': [{ type: 'A', address: '10.1.0.1' }],
      'db.prod.svc': [
        { type: 'A', address: '10.1.0.1' },
        { type: 'A', address: '10.2.0.1' },
        { type: 'SRV', priority: 0, weight: 50, port: 80, target: '10-2-0-1.west.db.prod.svc' },
        { type: 'SRV', priority: 0, weight: 50, port: 80, target: 'db-0.east.db.prod.svc' },
      ],
    });
  });

  it('counts the same endpoint seen through two importing clusters once, under its source cluster', () => {
    const remote = [ep('10.3.0.7', 'db-1')];
    const got = serviceRecords(
      'prod',
      'db',
      [headless('east', []), headless('west', [])],
      [slice('east', remote, 'north'), slice('west', remote, 'north')],
    );
    assert.deepEqual(got?.names, {
      'db-1.north.db.prod.svc': [{ type: 'A', address: '10.3.0.7' }],
      'db.prod.svc': [{ type: 'A', address: '10.3.0.7' }],
    });
  });

  it('derives hostnames of IPv6 endpoints from the address and answers AAAA', () => {
    const got = serviceRecords('prod', 'db', [headless('east', [])], [slice('east', [ep('fd00::a')], undefined, 'IPv6')]);
    assert.deepEqual(got?.names, {
      'db.prod.svc': [{ type: 'AAAA', address: 'fd00::a' }],
      'fd00--a.east.db.prod.svc': [{ type: 'AAAA', address: 'fd00::a' }],
    });
  });

  it('has no name at all when nothing is ready (NXDOMAIN), and none without an import', () => {
    assert.equal(serviceRecords('prod', 'db', [headless('east')], [slice('east', [ep('10.1.0.1', 'a', false)])]), undefined);
    assert.equal(serviceRecords('prod', 'db', [], [slice('east', [ep('10.1.0.1', 'a')])]), undefined);
  });

  it('never creates a <clusterid>.<svc>.<ns>.svc name', () => {
    const got = serviceRecords('prod', 'db', [headless('east')], [slice('east', [ep('10.1.0.1', 'db-0')])]);
    assert.ok(got);
    assert.ok(!('east.db.prod.svc' in got.names));
  });

  it('puts several endpoints sharing a hostname in one cluster under one name', () => {
    const got = serviceRecords(
      'prod',
      'db',
      [headless('east', [])],
      [slice('east', [ep('10.1.0.1', 'same'), ep('10.1.0.2', 'same')])],
    );
    assert.deepEqual(got?.names['same.east.db.prod.svc'], [
      { type: 'A', address: '10.1.0.1' },
      { type: 'A', address: '10.1.0.2' },
    ]);
  });
});

describe('record model: per-cluster views', () => {
  const a = (address: string) => ({ type: 'A', address });
  const clusters = ['east', 'west'];

  it('gives each cluster its own ClusterSetIP, and the union both', () => {
    const got = serviceRecordsByCluster('prod', 'web', [clusterSetIP('east', ['10.0.0.1'], []), clusterSetIP('west', ['10.0.0.2'], [])], [], clusters);
    assert.deepEqual(got.union?.names, { 'web.prod.svc': [a('10.0.0.1'), a('10.0.0.2')] });
    assert.deepEqual(got.overlays, {
      east: { names: { 'web.prod.svc': [a('10.0.0.1')] } },
      west: { names: { 'web.prod.svc': [a('10.0.0.2')] } },
    });
  });

  it('gives a cluster that holds none of the ready endpoints of a headless service no name (null)', () => {
    const got = serviceRecordsByCluster('prod', 'db', [headless('east', []), headless('west', [])], [slice('east', [ep('10.1.0.1', 'db-0')])], clusters);
    assert.deepEqual(got.union?.names['db.prod.svc'], [a('10.1.0.1')]);
    assert.deepEqual(got.overlays, { west: null });
  });

  it('keeps the source cluster of a slice an importing cluster holds, and counts only what it holds', () => {
    const got = serviceRecordsByCluster(
      'prod',
      'db',
      [headless('east', []), headless('west', [])],
      [slice('east', [ep('10.1.0.1', 'db-0')]), slice('west', [ep('10.1.0.1', 'db-0')], 'east'), slice('west', [ep('10.2.0.1', 'db-0')])],
      clusters,
    );
    assert.deepEqual(got.overlays, {
      east: { names: { 'db-0.east.db.prod.svc': [a('10.1.0.1')], 'db.prod.svc': [a('10.1.0.1')] } },
    });
    assert.deepEqual(Object.keys(got.union?.names ?? {}), ['db-0.east.db.prod.svc', 'db-0.west.db.prod.svc', 'db.prod.svc']);
  });

  it('gives no overlay to clusters that see the union, nor to clusters not asked about', () => {
    const imports = [clusterSetIP('east', ['10.0.0.1']), clusterSetIP('west', ['10.0.0.1'])];
    assert.deepEqual(serviceRecordsByCluster('prod', 'web', imports, [], clusters).overlays, {});
    assert.deepEqual(serviceRecordsByCluster('prod', 'web', [clusterSetIP('east', ['10.0.0.1'])], [], ['east']).overlays, {});
  });

  it('gives a cluster that does not import the service no name, and different ports their own SRV', () => {
    const got = serviceRecordsByCluster('prod', 'web', [clusterSetIP('east', ['10.0.0.1'], [http]), clusterSetIP('west', ['10.0.0.1'], [dnsUdp])], [], [...clusters, 'north']);
    assert.deepEqual(Object.keys(got.union?.names ?? {}), ['_dns._udp.web.prod.svc', '_http._tcp.web.prod.svc', 'web.prod.svc']);
    assert.deepEqual(Object.keys(got.overlays.east?.names ?? {}), ['_http._tcp.web.prod.svc', 'web.prod.svc']);
    assert.deepEqual(Object.keys(got.overlays.west?.names ?? {}), ['_dns._udp.web.prod.svc', 'web.prod.svc']);
    assert.equal(got.overlays.north, null);
  });

  it('gives an overlay exactly where a cluster alone differs from the union, over random clustersets', () => {
    const next = seededRandom(7);
    const random = (n: number) => Math.floor(next() * n);
    const all = ['east', 'west', 'north'];
    const pick = <T>(list: T[]) => list[random(list.length)]!;
    for (let round = 0; round < 300; round++) {
      const headlessService = random(2) === 0;
      const imports = all.filter(() => random(4) > 0).map((c) => (headlessService ? headless(c, [pick([http, dnsUdp])]) : clusterSetIP(c, [pick(['10.0.0.1', '10.0.0.2'])], [pick([http, dnsUdp])])));
      const slices = all.flatMap((holder) =>
        all.filter(() => random(3) > 0).map((source) => slice(holder, [ep(`10.1.0.${all.indexOf(source)}`, 'db-0', random(5) > 0)], random(4) > 0 ? source : undefined)),
      );
      const got = serviceRecordsByCluster('prod', 'db', imports, slices, all);
      const union = serviceRecords('prod', 'db', imports, slices);
      assert.deepEqual(got.union, union);
      const want: Record<string, unknown> = {};
      for (const c of all) {
        const own = serviceRecords('prod', 'db', imports.filter((i) => i.cluster === c), slices.filter((x) => x.cluster === c));
        if (!isDeepStrictEqual(own, union)) want[c] = own ?? null;
      }
      assert.deepEqual(got.overlays, want, `round ${round}`);
    }
  });

  it('has neither union nor overlays for a service nobody imports', () => {
    const got = serviceRecordsByCluster('prod', 'web', [], [slice('east', [ep('10.1.0.1')])], clusters);
    assert.deepEqual([got.union, got.overlays], [undefined, {}]);
  });

  it('keeps known records while the distinct contents they came from are the same, in any order and held by any cluster', () => {
    const imports = [headless('east')];
    const slices = [slice('east', [ep('10.1.0.1', 'db-0')], 'east')];
    const first = serviceRecordsByCluster('prod', 'db', imports, slices, clusters);
    const marker = { names: {} };
    const known = { ...first.derivations, union: { ...first.derivations.union, records: marker } };
    const alike = serviceRecordsByCluster('prod', 'db', [headless('west'), ...imports], [...slices, slice('west', [ep('10.1.0.1', 'db-0')], 'east')], clusters, known);
    assert.equal(alike.union, marker, 'the same contents: the known union');
    const unlabelled = serviceRecordsByCluster('prod', 'db', imports, [slice('east', [ep('10.1.0.1', 'db-0')])], clusters, known);
    assert.deepEqual(unlabelled.union, first.union, 'another object with the same records: derived again');
    const more = [...slices, slice('east', [ep('10.1.0.2', 'db-1')], 'east')];
    assert.deepEqual(serviceRecordsByCluster('prod', 'db', imports, more, clusters, known).union, serviceRecords('prod', 'db', imports, more));
  });

  it('keeps the known records of a cluster whose own rows did not change', () => {
    const before = serviceRecordsByCluster('prod', 'web', [clusterSetIP('east', ['10.0.0.1'], []), clusterSetIP('west', ['10.0.0.2'], [])], [], clusters);
    const west = before.derivations.own.west!;
    const after = serviceRecordsByCluster('prod', 'web', [clusterSetIP('east', ['10.0.0.3'], []), clusterSetIP('west', ['10.0.0.2'], [])], [], clusters, before.derivations);
    assert.equal(after.derivations.own.west, west);
    assert.equal(after.overlays.west, west.records);
    assert.deepEqual(after.overlays.east?.names['web.prod.svc'], [a('10.0.0.3')]);
  });

  it('gives with known records what it gives without, along random changes to random clustersets', () => {
    const next = seededRandom(11);
    const random = (n: number) => Math.floor(next() * n);
    const all = ['east', 'west', 'north'];
    const pick = <T>(list: T[]) => list[random(list.length)]!;
    const importOf = (c: string, headlessService: boolean) =>
      headlessService ? headless(c, [pick([http, dnsUdp])]) : clusterSetIP(c, [pick(['10.0.0.1', '10.0.0.2'])], [pick([http, dnsUdp])]);
    const sliceOf = (holder: string) => slice(holder, [ep(`10.1.0.${random(3)}`, pick(['db-0', 'db-1']), random(5) > 0)], random(3) > 0 ? pick(all) : undefined);
    for (let round = 0; round < 50; round++) {
      const headlessService = random(2) === 0;
      let imports = all.filter(() => random(4) > 0).map((c) => importOf(c, headlessService));
      let slices = all.flatMap((holder) => all.filter(() => random(3) > 0).map(() => sliceOf(holder)));
      let known: ReturnType<typeof serviceRecordsByCluster>['derivations'] | undefined;
      for (let step = 0; step < 20; step++) {
        const cluster = pick(all);
        if (random(2) === 0) imports = [...imports.filter((i) => i.cluster !== cluster), ...(random(4) > 0 ? [importOf(cluster, headlessService)] : [])];
        else slices = [...slices.filter((x) => x.cluster !== cluster), ...Array.from({ length: random(3) }, () => sliceOf(cluster))];
        const viewed = all.filter(() => random(4) > 0);
        const got = serviceRecordsByCluster('prod', 'db', imports, slices, viewed, known);
        const fresh = serviceRecordsByCluster('prod', 'db', imports, slices, viewed);
        assert.deepEqual([got.union, got.overlays], [fresh.union, fresh.overlays], `round ${round}, step ${step}`);
        known = got.derivations;
      }
    }
  });
});

describe('record model: properties over random services', () => {
  const next = seededRandom(23);
  const random = (n: number) => Math.floor(next() * n);
  const pick = <T>(list: T[]) => list[random(list.length)]!;
  const portPool: ServicePort[] = [http, dnsUdp, unnamed, { name: 'dns', protocol: 'TCP', port: 53 }, { name: 'HTTP', protocol: 'TCP', port: 8080 }];
  const ipPool = ['10.0.0.1', '10.0.0.10', '10.0.0.2', 'fd00::1', 'fd00::a', 'bad-ip'];
  const isSorted = (list: string[]) => list.every((x, k) => k === 0 || list[k - 1]! <= x);
  const ports = () => Array.from({ length: random(4) }, () => pick(portPool));

  it('sorts names and RRsets, shares SRV weights, and points every SRV at a name of the service', () => {
    for (let round = 0; round < 400; round++) {
      const headlessService = random(2) === 0;
      const clusters = ['east', 'west', 'north'].filter(() => random(3) > 0);
      const imports = clusters.map((c) => (headlessService ? headless(c, ports()) : clusterSetIP(c, Array.from({ length: random(3) }, () => pick(ipPool)), ports())));
      const slices = clusters.map((c) => slice(c, Array.from({ length: random(4) }, () => ep(pick(ipPool), pick([undefined, 'db-0', 'db-1']), random(4) > 0)), pick([undefined, 'east', 'south'])));
      const got = serviceRecords('prod', 'db', imports, slices);
      if (!got) continue;
      const names = Object.keys(got.names);
      assert.ok(isSorted(names), `round ${round}: names sorted`);
      for (const records of Object.values(got.names)) {
        const key = (r: (typeof records)[number]) => (r.type === 'SRV' ? `SRV ${r.target} ${String(r.port).padStart(5, '0')}` : `${r.type} ${r.address}`);
        assert.ok(isSorted(records.map(key)), `round ${round}: RRset sorted`);
        const srv = records.filter((r) => r.type === 'SRV');
        for (const r of srv) {
          assert.equal(r.weight, Math.max(1, Math.floor(100 / srv.length)));
          assert.ok(Object.hasOwn(got.names, r.target), `round ${round}: SRV target ${r.target} is a name of the service`);
        }
      }
      const namedPorts = new Set(imports.flatMap((i) => i.object.ports).filter((p) => p.name !== '').map((p) => `_${p.name.toLowerCase()}._${p.protocol.toLowerCase()}.db.prod.svc`));
      assert.deepEqual(names.filter((n) => n.startsWith('_')), [...namedPorts].sort(), `round ${round}: an SRV name per named port`);
      const addresses = (n: string) => (got.names[n] ?? []).flatMap((r) => (r.type === 'SRV' ? [] : [r.address]));
      const endpointNames = names.filter((n) => n !== 'db.prod.svc' && !n.startsWith('_'));
      if (headlessService) assert.deepEqual(new Set(addresses('db.prod.svc')), new Set(endpointNames.flatMap(addresses)), `round ${round}`);
      else assert.deepEqual(addresses('db.prod.svc').sort(), [...new Set(imports.flatMap((i) => i.object.ips))].filter((ip) => ip !== 'bad-ip').sort(), `round ${round}`);
    }
  });
});
