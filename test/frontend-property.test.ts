// The fast path against the record model: over generated clustersets (both
// address families, ClusterSetIP and headless, ready and not, named and
// unnamed ports, several clusters), every name and type answered by the
// compiled table, decoded, holds exactly the records the record model gives,
// with SRV targets' addresses in the additional section; names the model has
// not are NXDOMAIN. Checked on a table compiled afresh and on one brought to
// the same view by deltas.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import { applyDelta, compileAnswers, type AnswerTable } from '../services/frontend/answers.js';
import { respond } from '../services/frontend/respond.js';
import type { Endpoint, ServicePort } from '../shared/events.js';
import { serviceRecords, type ImportRow, type SliceRow } from '../shared/recordModel.js';
import { serviceKey, type DnsView, type ServiceRecords, type ViewDelta } from '../shared/view.js';
import { seededRandom } from './support/random.js';
import { Z, decode, encodeQuery } from './frontend-messages.js';

const CLUSTERS = ['east', 'west', 'north'];

function generator(seed: number) {
  const random = seededRandom(seed);
  const next = (n: number) => Math.floor(random() * n);
  const address = (v6: boolean) => (v6 ? `fd00::${next(0xffff).toString(16)}` : `10.${next(4)}.${next(256)}.${next(256)}`);
  const ports = (): ServicePort[] =>
    [
      { name: 'http', protocol: 'TCP' as const, port: 80 },
      { name: 'dns', protocol: 'UDP' as const, port: 53 },
      { name: '', protocol: 'TCP' as const, port: 9000 },
    ].filter(() => next(2) === 0);
  const service = (namespace: string, name: string): ServiceRecords | undefined => {
    const headless = next(2) === 0;
    const servicePorts = ports();
    const imports: ImportRow[] = CLUSTERS.filter(() => next(4) > 0).map((cluster) => ({
      cluster,
      object: { type: headless ? 'Headless' : 'ClusterSetIP', ips: headless ? [] : [address(next(3) === 0)], ports: servicePorts },
    }));
    const slices: SliceRow[] = headless
      ? CLUSTERS.filter(() => next(3) > 0).map((cluster) => {
          const v6 = next(4) === 0;
          const endpoints: Endpoint[] = Array.from({ length: 1 + next(4) }, (_, i) => ({
            addresses: [address(v6)],
            ready: next(5) > 0,
            ...(next(2) === 0 ? { hostname: `${name}-${i}` } : {}),
          }));
          return { cluster, object: { serviceName: name, addressType: v6 ? 'IPv6' : 'IPv4', endpoints, ports: servicePorts } };
        })
      : [];
    return serviceRecords(namespace, name, imports, slices);
  };
  const view = (version: number, names: number): DnsView => {
    const services: Record<string, ServiceRecords> = {};
    for (let i = 0; i < names; i++) {
      const records = service(`ns-${i % 3}`, `svc-${i}`);
      if (records) services[serviceKey(`ns-${i % 3}`, `svc-${i}`)] = records;
    }
    return { version, clusters: CLUSTERS.map((id) => ({ id, synced: true })), namespaces: ['ns-0', 'ns-1', 'ns-2'], services };
  };
  return { view, next };
}

type Rr = string;
const rr = (r: dnsPacket.Answer): Rr => {
  const data = (r as { data: unknown }).data;
  return `${r.name.toLowerCase()} ${r.type} ${typeof data === 'object' ? JSON.stringify(data) : String(data)}`;
};

// What the record model says a name holds, in dns-packet's terms.
function expected(records: ServiceRecords, name: string, qtype: 'A' | 'AAAA' | 'SRV'): { answers: Rr[]; additionals: Rr[] } {
  const owner = `${name}.${Z}`;
  const answers: Rr[] = [];
  const additionals: Rr[] = [];
  for (const r of records.names[name] ?? []) {
    if (r.type !== qtype) continue;
    if (r.type === 'SRV') {
      answers.push(`${owner} SRV ${JSON.stringify({ priority: r.priority, weight: r.weight, port: r.port, target: `${r.target}.${Z}` })}`);
      for (const t of records.names[r.target] ?? []) if (t.type !== 'SRV') additionals.push(`${r.target}.${Z} ${t.type} ${t.address}`);
    } else {
      answers.push(`${owner} ${r.type} ${r.address}`);
    }
  }
  return { answers: [...new Set(answers)].sort(), additionals: [...new Set(additionals)].sort() };
}

function ask(table: AnswerTable, name: string, qtype: string) {
  const p = decode(respond(encodeQuery(`${name}.${Z}`, qtype), table, 'tcp')!);
  return {
    rcode: (p as unknown as { rcode: string }).rcode,
    answers: p.answers.map(rr).sort(),
    additionals: [...new Set(p.additionals.filter((r) => r.type !== 'OPT').map(rr))].sort(),
  };
}

function compare(table: AnswerTable, view: DnsView, label: string): number {
  let checked = 0;
  for (const records of Object.values(view.services)) {
    for (const name of Object.keys(records.names)) {
      for (const qtype of ['A', 'AAAA', 'SRV'] as const) {
        const want = expected(records, name, qtype);
        const got = ask(table, name, qtype);
        assert.equal(got.rcode, 'NOERROR', `${label}: ${name} ${qtype}`);
        assert.deepEqual(got.answers, want.answers, `${label}: ${name} ${qtype}`);
        assert.deepEqual(got.additionals, want.additionals, `${label}: ${name} ${qtype} additional`);
        checked++;
      }
    }
  }
  for (let i = 0; i < 50; i++) {
    const key = serviceKey(`ns-${i % 3}`, `svc-${i}`);
    if (!Object.hasOwn(view.services, key)) assert.equal(ask(table, `svc-${i}.ns-${i % 3}.svc`, 'A').rcode, 'NXDOMAIN', `${label}: ${key} has no names`);
  }
  return checked;
}

describe('fast path = record model, over generated clustersets', () => {
  for (const seed of [1, 2, 3, 4]) {
    it(`seed ${seed}: a compiled table, then one brought there by deltas`, () => {
      const g = generator(seed);
      const first = g.view(1, 50);
      const second = g.view(2, 50);
      const checked = compare(compileAnswers(structuredClone(first), [Z], 5, { rotate: false }), first, 'compiled');
      assert.ok(checked > 100, `${checked} questions`);

      const table = compileAnswers(structuredClone(first), [Z], 5, { rotate: false });
      const delta: ViewDelta = { from: 1, to: 2, services: { upsert: {}, remove: [] } };
      for (const key of new Set([...Object.keys(first.services), ...Object.keys(second.services)])) {
        if (!Object.hasOwn(second.services, key)) delta.services.remove.push(key);
        else if (g.next(3) > 0) delta.services.upsert[key] = second.services[key]!;
        else if (Object.hasOwn(first.services, key)) second.services[key] = first.services[key]!; // unchanged
        else delta.services.upsert[key] = second.services[key]!;
      }
      assert.ok(applyDelta(table, delta));
      compare(table, second, 'after a delta');
    });
  }
});
