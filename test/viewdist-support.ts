// For the view distribution tests: a view feed the test drives, generated
// views and deltas, a listener that checks what it is given, NATS users with
// exactly the permissions the aggregator and a frontend are documented to need.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino, type Logger } from 'pino';
import { silentLogger } from '../shared/logger.js';
import { NatsViewFeed, NatsViewPublisher } from '../shared/viewDistribution.js';
import type { ViewDistributionOptions } from '../shared/viewWire.js';
import { applyDelta, type DnsView, type ServiceRecords, type ViewDelta, type ViewFeed, type ViewListener } from '../shared/view.js';
import { NatsServer } from './support/natsServer.js';

// One service as the record model shapes a headless one: the service name,
// a named port's SRV name and two endpoint names.
function serviceRecords(ns: string, svc: string, generation: number): ServiceRecords {
  const base = `${svc}.${ns}.svc`;
  const address = (n: number) => `10.${generation % 250}.${(n >> 8) & 255}.${n & 255}`;
  const pods = [`pod-${generation % 7}.east.${base}`, `pod-${(generation + 1) % 7}.west.${base}`];
  return {
    names: {
      [base]: [
        { type: 'A', address: address(1) },
        { type: 'A', address: address(2) },
        ...pods.map((target) => ({ type: 'SRV' as const, priority: 0, weight: 0, port: 8080, target })),
      ],
      [`_http._tcp.${base}`]: pods.map((target) => ({ type: 'SRV' as const, priority: 0, weight: 0, port: 8080, target })),
      [pods[0]!]: [{ type: 'A', address: address(1) }],
      [pods[1]!]: [{ type: 'A', address: address(2) }],
    },
  };
}

export function sampleView(services: number, version = 1): DnsView {
  const view: DnsView = {
    version,
    clusters: [
      { id: 'east', synced: true },
      { id: 'west', synced: true },
    ],
    namespaces: [],
    services: {},
  };
  const namespaces = new Set<string>();
  for (let i = 0; i < services; i++) {
    const ns = `ns-${i % 100}`;
    namespaces.add(ns);
    view.services[`${ns}/svc-${i}`] = serviceRecords(ns, `svc-${i}`, i);
  }
  view.namespaces = [...namespaces].sort();
  return view;
}

// The step-th change after `view`: a few services change or appear, now and
// then one goes, a namespace appears, a cluster's sync state flips.
// Versions advance unevenly, as event-log sequences do.
export function nextDelta(view: DnsView, step: number): ViewDelta {
  const delta: ViewDelta = { from: view.version, to: view.version + 1 + (step % 3), services: { upsert: {}, remove: [] }, observedAt: [Date.now()] };
  for (let k = 0; k < 3; k++) {
    const i = (step * 7 + k * 13) % 1000;
    const ns = `ns-${i % 100}`;
    delta.services.upsert[`${ns}/svc-${i}`] = serviceRecords(ns, `svc-${i}`, step);
  }
  if (step % 5 === 0) {
    const gone = Object.keys(view.services).find((k) => !(k in delta.services.upsert));
    if (gone) delta.services.remove.push(gone);
  }
  if (step % 11 === 0) delta.namespaces = { add: [`extra-${step}`], remove: step > 11 ? [`extra-${step - 11}`] : [] };
  if (step % 17 === 0) delta.clusters = view.clusters.map((c) => (c.id === 'west' ? { ...c, synced: !c.synced } : c));
  return delta;
}

// A view feed the test drives, in the role of the aggregator.
export class DrivenFeed implements ViewFeed {
  private readonly listeners = new Set<ViewListener>();
  private step = 0;

  constructor(readonly view: DnsView) {}

  get listenerCount(): number {
    return this.listeners.size;
  }

  subscribe(listener: ViewListener): () => void {
    this.listeners.add(listener);
    listener.snapshot(structuredClone(this.view));
    return () => this.listeners.delete(listener);
  }

  send(delta: ViewDelta): void {
    applyDelta(this.view, delta);
    for (const listener of this.listeners) listener.delta(delta);
  }

  // A delta to the same version that only changes the cluster list, as the
  // aggregator sends when a cluster's sync times out.
  setClusters(clusters: DnsView['clusters']): void {
    const delta: ViewDelta = { from: this.view.version, to: this.view.version, clusters, services: { upsert: {}, remove: [] } };
    applyDelta(this.view, delta);
    for (const listener of this.listeners) listener.delta(delta);
  }

  advance(deltas = 1): void {
    for (let n = 0; n < deltas; n++) {
      const delta = nextDelta(this.view, ++this.step);
      applyDelta(this.view, delta);
      for (const listener of this.listeners) listener.delta(delta);
    }
  }
}

// A listener keeping the view it was given; deltas that do not follow on are
// noted (a throwing listener would only be logged by the feed).
export function recorder() {
  const got = { snapshots: 0, deltas: 0, view: undefined as DnsView | undefined, misfits: [] as string[] };
  const listener: ViewListener = {
    snapshot(view) {
      got.snapshots++;
      got.view = structuredClone(view);
    },
    delta(delta) {
      got.deltas++;
      if (!got.view || !applyDelta(got.view, delta)) got.misfits.push(`delta ${delta.from}→${delta.to} given at version ${got.view?.version}`);
    },
  };
  return { got, listener };
}

export type Recorded = ReturnType<typeof recorder>['got'];

export async function eventually(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await sleep(25);
  }
}

// A logger whose messages the test can read.
export function capturedLogger(): { logger: Logger; messages: () => string[]; records: () => Record<string, unknown>[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const records = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { logger: pino({ level: 'debug' }, sink), records, messages: () => records().map((r) => String(r.msg)) };
}

// The permissions the report documents, for the default prefix 'mcsdns';
// `admin` stands in for a test poking at the data directly.
export const VIEW_PERMISSIONS = `
authorization {
  users = [
    { user: aggregator, password: aggregator, permissions: {
      publish: [
        "mcsdns.view.delta", "mcsdns.view.heartbeat",
        "$JS.API.STREAM.INFO.MCSDNS_VIEW", "$JS.API.STREAM.CREATE.MCSDNS_VIEW",
        "$JS.API.STREAM.INFO.OBJ_mcsdns-snapshots", "$JS.API.STREAM.CREATE.OBJ_mcsdns-snapshots",
        "$JS.API.STREAM.MSG.GET.OBJ_mcsdns-snapshots",
        "$JS.API.STREAM.PURGE.OBJ_mcsdns-snapshots", "$O.mcsdns-snapshots.>"
      ]
      subscribe: [ "_INBOX.>" ]
    } }
    { user: frontend, password: frontend, permissions: {
      publish: [
        "$JS.API.STREAM.INFO.MCSDNS_VIEW",
        "$JS.API.CONSUMER.CREATE.MCSDNS_VIEW.*.mcsdns.view.delta",
        "$JS.API.CONSUMER.MSG.NEXT.MCSDNS_VIEW.*", "$JS.API.CONSUMER.INFO.MCSDNS_VIEW.*", "$JS.API.CONSUMER.DELETE.MCSDNS_VIEW.*",
        "$JS.API.STREAM.MSG.GET.OBJ_mcsdns-snapshots",
        "$JS.API.CONSUMER.CREATE.OBJ_mcsdns-snapshots.*.$O.mcsdns-snapshots.C.*",
        "$JS.FC.OBJ_mcsdns-snapshots.>"
      ]
      subscribe: [ "mcsdns.view.heartbeat", "_INBOX.>" ]
    } }
    { user: admin, password: admin }
  ]
}
`;

export type ViewUser = 'aggregator' | 'frontend' | 'admin';

// Reconnects forever and quickly, as the services' connections do.
export function connectAs(server: NatsServer, user: ViewUser): Promise<NatsConnection> {
  return connect({ servers: server.url, user, pass: user, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
}

// One NATS server with the documented permissions, and the publishers and
// followers a test starts on it, stopped in reverse order.
export class ViewDistHarness {
  private readonly connections: NatsConnection[] = [];
  private readonly running: { stop(): Promise<void> }[] = [];

  private constructor(readonly server: NatsServer) {}

  // `config`: more nats-server configuration, e.g. "max_payload: 65536".
  static async start(config = ''): Promise<ViewDistHarness> {
    return new ViewDistHarness(await NatsServer.start({ config: `${VIEW_PERMISSIONS}\n${config}` }));
  }

  async connection(user: ViewUser): Promise<NatsConnection> {
    const nc = await connectAs(this.server, user);
    this.connections.push(nc);
    return nc;
  }

  async publisher(source: ViewFeed, opts: ViewDistributionOptions, logger: Logger = silentLogger): Promise<NatsViewPublisher> {
    const publisher = await NatsViewPublisher.start(await this.connection('aggregator'), source, opts, logger);
    this.running.push(publisher);
    return publisher;
  }

  async follower(opts: ViewDistributionOptions, logger: Logger = silentLogger): Promise<{ feed: NatsViewFeed; got: Recorded }> {
    const feed = await NatsViewFeed.start(await this.connection('frontend'), opts, logger);
    this.running.push(feed);
    const { got, listener } = recorder();
    feed.subscribe(listener);
    return { feed, got };
  }

  async stop(): Promise<void> {
    for (const r of this.running.splice(0).reverse()) await r.stop();
    for (const nc of this.connections.splice(0)) await nc.close();
    await this.server.stop();
  }
}

// Waits until the follower has the source's view, delivered whole and in order.
export async function inStep(source: DrivenFeed, got: Recorded, timeoutMs?: number): Promise<void> {
  await eventually(`the follower reaches version ${source.view.version}`, () => got.view?.version === source.view.version, timeoutMs);
  assert.deepEqual(got.misfits, []);
  assert.deepEqual(got.view, source.view);
}
