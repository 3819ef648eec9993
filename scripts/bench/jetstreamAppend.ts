// node --import tsx scripts/bench/jetstreamAppend.ts: what an agent's
// JetStream appends cost it. Starts a nats-server and, BENCH_ROUNDS times
// (3), appends BENCH_EVENTS (20,000) events of an initial sync (ServiceImports
// and EndpointSlices of one cluster, 300-600 bytes each) into a fresh stream
// through JetStreamEventLog.append, 500 at a time as the agent's publish
// queue hands them over. Prints events/s and this process's CPU µs per event
// (the server's CPU is not counted). Numbers only; nothing fails for being slow.
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { connect } from '@nats-io/transport-node';
import type { AppendItem } from '../../shared/eventLog.js';
import { encodeEvent, eventId, type UpsertEvent } from '../../shared/events.js';
import { JetStreamEventLog } from '../../shared/jetstreamEventLog.js';
import { NatsServer } from '../../test/support/natsServer.js';
import { envNumber } from './env.js';

const BATCH = 500; // the agent's PublishQueue batch
const events = Math.max(1, envNumber('BENCH_EVENTS', 20_000));
const rounds = Math.max(1, envNumber('BENCH_ROUNDS', 3));

// Every other service headless, with a slice of three endpoints: payloads of roughly 300 and 550 bytes.
function syncItems(cluster: string, count: number): AppendItem[] {
  const observedAt = new Date().toISOString();
  const ports = [{ name: 'http', protocol: 'TCP' as const, port: 80 }];
  return Array.from({ length: count }, (_, n): AppendItem => {
    const s = n >> 1;
    const ref = { v: 1 as const, cluster, observedAt, epoch: 1, namespace: `ns-${s % 500}`, resourceVersion: String(n + 1), op: 'upsert' as const };
    const event: UpsertEvent =
      n % 2 === 0
        ? { ...ref, kind: 'ServiceImport', name: `svc-${s}`, uid: `${cluster}-imp-${s}`, object: { type: 'Headless', ips: [], ports } }
        : {
            ...ref,
            kind: 'EndpointSlice',
            name: `svc-${s}-${cluster}-x7k2p`,
            uid: `${cluster}-eps-${s}`,
            object: {
              serviceName: `svc-${s}`,
              sourceCluster: cluster,
              addressType: 'IPv4',
              endpoints: [0, 1, 2].map((e) => ({ addresses: [`10.${(s >> 8) & 255}.${s & 255}.${e + 10}`], hostname: `svc-${s}-${e}`, ready: true })),
              ports,
            },
          };
    return { id: eventId(event), cluster, payload: encodeEvent(event) };
  });
}

async function appendRound(server: NatsServer, round: number, items: AppendItem[]): Promise<{ wallMs: number; cpuUs: number }> {
  const nc = await connect({ servers: server.url, noAsyncTraces: true }); // as shared/nats.ts connects
  try {
    const log = await JetStreamEventLog.open(nc, { prefix: `bench${round}` });
    const cpu = process.cpuUsage();
    const start = performance.now();
    for (let i = 0; i < items.length; i += BATCH) await log.append(items.slice(i, i + BATCH));
    const wallMs = performance.now() - start;
    const used = process.cpuUsage(cpu);
    const stored = await log.lastSeq();
    if (stored !== items.length) throw new Error(`round ${round}: the stream holds ${stored} events, not ${items.length}`);
    await log.close();
    return { wallMs, cpuUs: used.user + used.system };
  } finally {
    await nc.close();
  }
}

const items = syncItems('east', events);
const sizes = items.map((i) => Buffer.byteLength(i.payload));
console.log(
  `${events} events, payloads ${Math.min(...sizes)}-${Math.max(...sizes)} bytes (mean ${Math.round(sizes.reduce((a, b) => a + b, 0) / sizes.length)}), ` +
    `batches of ${BATCH}; load average ${loadavg()[0]!.toFixed(2)} (a busy machine makes every number noisier)`,
);
const server = await NatsServer.start();
try {
  for (let round = 1; round <= rounds; round++) {
    const { wallMs, cpuUs } = await appendRound(server, round, items);
    const perSecond = Math.round(events / (wallMs / 1000)).toLocaleString('en-US');
    console.log(`round ${round}: ${perSecond.padStart(7)} events/s, ${(cpuUs / events).toFixed(1).padStart(5)} µs CPU per event (${(wallMs / 1000).toFixed(2)} s)`);
  }
} finally {
  await server.stop();
}
