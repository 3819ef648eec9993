// Metric definitions: one set per registry however often asked for, separate
// registries kept apart, and query counts by type and rcode.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { agentMetrics, aggregatorMetrics, createRegistry, frontendMetrics, QueryCounts } from '../shared/metrics.js';
import { sampleValue, samples } from './metrics-samples.js';

describe('metrics registry', () => {
  it('makes each service metrics once per registry, so services can share one process', async () => {
    const registry = createRegistry();
    assert.equal(agentMetrics(registry), agentMetrics(registry));
    assert.equal(aggregatorMetrics(registry), aggregatorMetrics(registry));
    assert.equal(frontendMetrics(registry), frontendMetrics(registry));
    agentMetrics(registry).eventsPublished.inc({ cluster: 'east', kind: 'Namespace', op: 'upsert' });
    agentMetrics(registry).eventsPublished.inc({ cluster: 'west', kind: 'Namespace', op: 'upsert' }, 2);
    const text = await registry.metrics();
    assert.equal(sampleValue(text, 'mcsdns_agent_events_published_total', { cluster: 'east' }), 1);
    assert.equal(sampleValue(text, 'mcsdns_agent_events_published_total', { cluster: 'west' }), 2);
    for (const name of ['mcsdns_aggregator_events_applied_total', 'mcsdns_frontend_snapshot_version', 'mcsdns_frontend_programming_latency_seconds_count']) {
      assert.equal(sampleValue(text, name), 0, name);
    }
  });

  it('keeps two registries apart and uses no global registry', async () => {
    const one = createRegistry();
    const two = createRegistry();
    assert.notEqual(aggregatorMetrics(one), aggregatorMetrics(two));
    aggregatorMetrics(one).eventsApplied.inc(5);
    assert.equal(sampleValue(await one.metrics(), 'mcsdns_aggregator_events_applied_total'), 5);
    assert.equal(sampleValue(await two.metrics(), 'mcsdns_aggregator_events_applied_total'), 0);
  });

  it('includes the default process metrics with the mcsdns_ prefix', async () => {
    const text = await createRegistry().metrics();
    for (const name of ['mcsdns_process_cpu_seconds_total', 'mcsdns_process_resident_memory_bytes', 'mcsdns_nodejs_eventloop_lag_seconds']) {
      assert.ok(samples(text, name).length > 0, name);
    }
    assert.doesNotMatch(text, /^process_cpu_seconds_total/m);
  });

  it('reads the publish queue lengths at scrape time', async () => {
    const registry = createRegistry();
    let queued = 3;
    agentMetrics(registry).queueLengths.set('east', () => queued);
    assert.equal(sampleValue(await registry.metrics(), 'mcsdns_agent_publish_queue_length', { cluster: 'east' }), 3);
    queued = 0;
    assert.equal(sampleValue(await registry.metrics(), 'mcsdns_agent_publish_queue_length', { cluster: 'east' }), 0);
  });
});

describe('query counts', () => {
  const cases: { what: string; count: (c: QueryCounts) => void; type: string; rcode: string }[] = [
    { what: 'A NOERROR', count: (c) => c.add(1, 0), type: 'A', rcode: 'NOERROR' },
    { what: 'AAAA NXDOMAIN', count: (c) => c.add(28, 3), type: 'AAAA', rcode: 'NXDOMAIN' },
    { what: 'SRV SERVFAIL', count: (c) => c.add(33, 2), type: 'SRV', rcode: 'SERVFAIL' },
    { what: 'TXT', count: (c) => c.add(16, 0), type: 'TXT', rcode: 'NOERROR' },
    { what: 'SOA', count: (c) => c.add(6, 0), type: 'SOA', rcode: 'NOERROR' },
    { what: 'NS', count: (c) => c.add(2, 0), type: 'NS', rcode: 'NOERROR' },
    { what: 'ANY', count: (c) => c.add(255, 0), type: 'ANY', rcode: 'NOERROR' },
    { what: 'MX is other', count: (c) => c.add(15, 5), type: 'other', rcode: 'REFUSED' },
    { what: 'the largest type is other', count: (c) => c.add(65535, 4), type: 'other', rcode: 'NOTIMP' },
    { what: 'extended BADVERS', count: (c) => c.add(1, 16), type: 'A', rcode: 'BADVERS' },
    { what: 'an rcode never answered', count: (c) => c.add(1, 9), type: 'A', rcode: 'other' },
    { what: 'an unreadable question', count: (c) => c.addUnparsed(1), type: 'unparsed', rcode: 'FORMERR' },
  ];
  for (const c of cases) {
    it(`counts ${c.what} as type ${c.type}, rcode ${c.rcode}`, () => {
      const counts = new QueryCounts();
      c.count(counts);
      c.count(counts);
      assert.deepEqual(counts.series(), [{ type: c.type, rcode: c.rcode, count: 2 }]);
    });
  }

  it('exports the counts as queries_total series at scrape time', async () => {
    const registry = createRegistry();
    const { queries } = frontendMetrics(registry);
    queries.add(1, 0);
    queries.add(1, 0);
    queries.add(28, 3);
    const text = await registry.metrics();
    assert.equal(sampleValue(text, 'mcsdns_frontend_queries_total', { type: 'A', rcode: 'NOERROR' }), 2);
    assert.equal(sampleValue(text, 'mcsdns_frontend_queries_total', { type: 'AAAA', rcode: 'NXDOMAIN' }), 1);
    assert.equal(samples(text, 'mcsdns_frontend_queries_total').length, 2, 'no series for counts still zero');
    queries.add(1, 0);
    assert.equal(sampleValue(await registry.metrics(), 'mcsdns_frontend_queries_total', { type: 'A', rcode: 'NOERROR' }), 3);
  });
});
