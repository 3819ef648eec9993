// The view snapshot's bytes (shared/viewSnapshot.ts, format 2) and the
// formats a frontend reads (shared/viewWire.ts decodeSnapshot): every view
// comes back as it was, whole or part by part; anything else is refused with
// an Error saying why.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { gzip as gzipCallback, gunzipSync } from 'node:zlib';
import { generateClusterset } from '../scripts/bench/clusterset.js';
import type { DnsView } from '../shared/view.js';
import { viewOf, type ViewBuilder } from '../shared/viewBuilder.js';
import { MalformedView, readView, readViewInto, VIEW_FORMAT, writeView } from '../shared/viewSnapshot.js';
import { decodeSnapshot, encodeSnapshot, isDnsView } from '../shared/viewWire.js';
import { seededRandom } from './support/random.js';
import { sampleView } from './viewdist-support.js';

const gzip = promisify(gzipCallback);

// Dual-stack ClusterSetIPs, headless services with named and unnamed ports, per the record model.
const generated = (headlessShare: number): DnsView => generateClusterset({ services: 300, clusters: 3, headlessShare, endpoints: 3, seed: 7 }).view;

function withOverlays(): DnsView {
  const view = generated(0.5);
  const [first, second, third] = Object.keys(view.services);
  view.views = {
    'cluster-1': { [first!]: null, [second!]: view.services[third!]!, 'ns-new/only-here': { names: { 'only-here.ns-new.svc': [{ type: 'AAAA', address: 'fd00::1' }] } } },
    'cluster-2': {},
  };
  return view;
}

const views: [string, DnsView][] = [
  ['an empty view', { version: 0, clusters: [], namespaces: [], services: {} }],
  ['a view of ClusterSetIP services, some dual-stack', generated(0)],
  ['a view of headless services', generated(1)],
  ['a view with overlays, an empty one and services without a name', withOverlays()],
  ['the view the distribution tests use', sampleView(200, 12_345)],
  [
    'a view at the edges: the largest version, 16-bit maxima, strings beyond Latin-1',
    {
      version: Number.MAX_SAFE_INTEGER,
      clusters: [{ id: 'east', synced: false }],
      namespaces: ['ns-\u00e9t\u00e9', 'ns-\u{1f600}'],
      services: {
        'ns-\u{1f600}/web': {
          names: {
            'web.ns-\u{1f600}.svc': [{ type: 'SRV', priority: 65535, weight: 65535, port: 65535, target: 'h\u00e9.east.web.ns-\u{1f600}.svc' }],
            'h\u00e9.east.web.ns-\u{1f600}.svc': [],
          },
        },
      },
    },
  ],
];

// What a builder is handed, in order, as readViewInto reads `bytes`.
function partsOf(bytes: Buffer): string[] {
  const parts: string[] = [];
  const builder: ViewBuilder = {
    head: ({ version }) => void parts.push(`head ${version}`),
    service: (key, names) => void parts.push(`service ${key} ${names.size}`),
    overlay: (cluster, overlay) => void parts.push(`overlay ${cluster} ${Object.keys(overlay).length}`),
    done: () => void parts.push('done'),
  };
  try {
    readViewInto(bytes, builder);
  } catch (err) {
    assert.ok(err instanceof MalformedView, String(err));
    parts.push('malformed');
  }
  return parts;
}

describe('view snapshot format 2', () => {
  for (const [name, view] of views) {
    it(`${name} reads back as it was`, async () => {
      assert.deepEqual(readView(writeView(view)), view);
      assert.deepEqual(await decodeSnapshot(await encodeSnapshot(view)), view);
      assert.deepEqual(viewOf((builder) => readViewInto(writeView(view), builder)), view);
    });
  }

  it('hands a builder the head, each service and each overlay in order, then done', () => {
    const view = withOverlays();
    const services = Object.entries(view.services).map(([key, { names }]) => `service ${key} ${Object.keys(names).length}`);
    const overlays = Object.entries(view.views!).map(([cluster, overlay]) => `overlay ${cluster} ${Object.keys(overlay).length}`);
    assert.deepEqual(partsOf(writeView(view)), [`head ${view.version}`, ...services, ...overlays, 'done']);
  });

  it('never tells a builder done when the bytes stop making a view, however far it got', () => {
    const bytes = writeView(withOverlays());
    const trailing = Buffer.concat([bytes, Buffer.from([0])]);
    for (const broken of [bytes.subarray(0, bytes.length >> 1), bytes.subarray(0, bytes.length - 1), trailing]) {
      const parts = partsOf(broken);
      assert.equal(parts.at(-1), 'malformed');
      assert.ok(!parts.includes('done'));
    }
    assert.ok(partsOf(trailing).filter((p) => p.startsWith('service')).length > 100, 'a builder may have been handed every service before the bytes turned out wrong');
  });

  it("an endpoint's address record reads back as one object at its name and at the service's", () => {
    const view = readView(writeView(generated(1)));
    let shared = 0;
    for (const [key, { names }] of Object.entries(view.services)) {
      const [namespace, name] = key.split('/');
      const base = names[`${name}.${namespace}.svc`]!;
      for (const [endpoint, [record]] of Object.entries(names)) if (endpoint.endsWith(`.${name}.${namespace}.svc`) && !endpoint.startsWith('_')) shared += base.includes(record!) ? 1 : 0;
    }
    assert.ok(shared > 100, `${shared} shared`);
  });

  it('is smaller than the JSON of format 1', async () => {
    const view = generated(0.2);
    const [binary, json] = [await encodeSnapshot(view), await gzip(JSON.stringify(view))];
    assert.ok(binary.length < json.length * 0.75, `${binary.length} bytes against ${json.length}`);
  });

  it('refuses to write SRV fields that are no 16-bit numbers', () => {
    for (const port of [-1, 65536, 1.5]) {
      const view: DnsView = { version: 1, clusters: [], namespaces: [], services: { 'a/b': { names: { 'b.a.svc': [{ type: 'SRV', priority: 0, weight: 0, port, target: 'b.a.svc' }] } } } };
      assert.throws(() => writeView(view), /16-bit numbers, not/);
    }
  });

  it('every truncation is refused, naming where the bytes end', () => {
    const bytes = writeView(withOverlays());
    for (let length = 0; length < bytes.length; length += 1 + Math.floor(length / 50)) {
      assert.throws(() => readView(bytes.subarray(0, length)), /not a binary view snapshot|malformed at byte \d+/, `${length} of ${bytes.length} bytes`);
    }
  });

  it('a changed byte makes an Error or still a view, never anything else', () => {
    const view = sampleView(10);
    view.views = { east: { 'ns-1/svc-1': null, 'ns-2/svc-2': view.services['ns-3/svc-3']! } };
    const bytes = writeView(view);
    const random = seededRandom(11);
    let refused = 0;
    for (let n = 0; n < 1000; n++) {
      const changed = Buffer.from(bytes);
      const at = Math.floor(random() * changed.length);
      changed[at] = (changed[at]! + 1 + Math.floor(random() * 255)) & 255;
      try {
        assert.ok(isDnsView(JSON.parse(JSON.stringify(readView(changed)))), `byte ${at}`);
      } catch (err) {
        assert.match((err as Error).message, /malformed at byte|no "MCSV" header|format \d+ is not one this version reads/, `byte ${at}`);
        refused++;
      }
    }
    assert.ok(refused > 200, `${refused} of 1000 refused`);
  });

  it('refuses what could be no view: keys that are no "<ns>/<svc>", overlays of no cluster id, a name "__proto__"', () => {
    const records = { names: { 'b.a.svc': [{ type: 'A' as const, address: '10.0.0.1' }] } };
    const base: DnsView = { version: 1, clusters: [], namespaces: [], services: {} };
    const refused: [DnsView, RegExp][] = [
      [{ ...base, services: { 'no-slash': records } }, /service key "no-slash"/],
      [{ ...base, views: { east: { 'a/b/c': null } } }, /service key "a\/b\/c"/],
      [{ ...base, views: { East: {} } }, /overlay of "East", which is no cluster id/],
      [{ ...base, services: { 'a/b': { names: JSON.parse('{"__proto__": []}') as Record<string, []> } } }, /a name "__proto__"/],
    ];
    for (const [view, message] of refused) assert.throws(() => readView(writeView(view)), message);
  });
});

describe('decoding a snapshot', () => {
  it('reads format 1, the gzipped JSON older aggregators wrote', async () => {
    const view = withOverlays();
    assert.deepEqual(await decodeSnapshot(await gzip(JSON.stringify(view))), view);
  });

  it('writes format 2, marked in its first bytes', async () => {
    const bytes = gunzipSync(await encodeSnapshot(sampleView(3)));
    assert.equal(bytes.subarray(0, 4).toString('latin1'), 'MCSV');
    assert.equal(bytes[4], VIEW_FORMAT);
  });

  it('says which format it cannot read', async () => {
    const bytes = gunzipSync(await encodeSnapshot(sampleView(3)));
    bytes[4] = 3;
    await assert.rejects(decodeSnapshot(await gzip(bytes)), /format 3 is not one this version reads \(1 and 2\); a newer aggregator wrote it/);
  });

  it('refuses what does not gunzip, gzipped garbage and JSON that is no view', async () => {
    const good = await encodeSnapshot(sampleView(3));
    const refused: [Uint8Array, RegExp][] = [
      [Buffer.from('not gzip'), /does not gunzip/],
      [good.subarray(0, good.length - 9), /does not gunzip/],
      [await gzip(Buffer.from([0, 1, 2, 3, 4, 5])), /neither format 2 nor a format 1 \(JSON\) view/],
      [await gzip(JSON.stringify({ version: 1, clusters: [], namespaces: [], services: { 'a/b': { names: { x: [{ type: 'A' }] } } } })), /neither format 2 nor/],
    ];
    for (const [data, message] of refused) await assert.rejects(decodeSnapshot(data), message);
  });
});
