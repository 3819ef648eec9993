// A read model replayed in memory, moved forward event by event range, for
// the audit questions. It can watch one service: the events that touched it
// are applied on their own, with the service's objects before and after.
import type { EventLog, StoredEvent } from '../../shared/eventLog.js';
import { isSyncEvent, type ChangeEvent } from '../../shared/events.js';
import { silentLogger } from '../../shared/logger.js';
import { serviceRecords } from '../../shared/recordModel.js';
import type { DnsView, ServiceRecords } from '../../shared/view.js';
import { fullView } from '../aggregator/dnsView.js';
import { decodeEvent, Projection } from '../aggregator/projection.js';
import { ReadModel } from '../aggregator/readModel.js';
import { DEFAULT_REPLAY_BATCH, readRange } from './replay.js';

export interface ServiceRef {
  namespace: string;
  name: string;
}

// One object of a service as the read model holds it, keyed "<Kind> <cluster> <ns>/<name>".
export type ServiceObjects = Map<string, unknown>;

export interface ServiceState {
  objects: ServiceObjects;
  records: ServiceRecords | undefined;
}

export interface ServiceEvent {
  stored: StoredEvent;
  event: ChangeEvent;
  before: ServiceState;
  after: ServiceState;
}

export interface ServiceWatch {
  service: ServiceRef;
  onEvent(change: ServiceEvent): void;
}

export class ReplayedState {
  private readonly projection: Projection;
  private readonly importObjects;
  private readonly sliceObjects;

  private constructor(private readonly model: ReadModel) {
    this.projection = new Projection(model.db);
    this.importObjects = model.db.prepare<[string, string], { cluster: string; object: string }>(
      'SELECT cluster, object FROM service_imports WHERE namespace = ? AND name = ? ORDER BY cluster',
    );
    this.sliceObjects = model.db.prepare<[string, string], { cluster: string; name: string; object: string }>(
      'SELECT cluster, name, object FROM endpoint_slices WHERE namespace = ? AND service_name = ? ORDER BY cluster, name',
    );
  }

  // An empty read model in memory: seq 0, before any event.
  static empty(): ReplayedState {
    return new ReplayedState(ReadModel.open(':memory:'));
  }

  get seq(): number {
    return this.model.lastApplied();
  }

  // Applies events seq+1..toSeq of the log.
  async advance(log: EventLog, toSeq: number, watch?: ServiceWatch): Promise<void> {
    if (toSeq < this.seq) throw new Error(`cannot go back from seq ${this.seq} to ${toSeq}`);
    await readRange(log, this.seq + 1, toSeq, DEFAULT_REPLAY_BATCH, (events) => {
      if (watch) this.applyWatching(events, watch);
      else this.projection.applyBatch(events);
    });
  }

  // The DNS view the aggregator derives from this state (sync timeouts aside).
  view(): DnsView {
    return fullView({ model: this.model, expectedClusters: [], logger: silentLogger }, this.seq);
  }

  service({ namespace, name }: ServiceRef): ServiceState {
    const objects: ServiceObjects = new Map();
    for (const r of this.importObjects.all(namespace, name)) objects.set(`ServiceImport ${r.cluster} ${namespace}/${name}`, JSON.parse(r.object));
    for (const r of this.sliceObjects.all(namespace, name)) objects.set(`EndpointSlice ${r.cluster} ${namespace}/${r.name}`, JSON.parse(r.object));
    const rows = this.model.service(namespace, name);
    return { objects, records: serviceRecords(namespace, name, rows.imports, rows.slices) };
  }

  close(): void {
    this.model.close();
  }

  // Events that may touch the watched service go one by one; runs of others in one batch.
  private applyWatching(events: StoredEvent[], watch: ServiceWatch): void {
    const key = `${watch.service.namespace}/${watch.service.name}`;
    let run: StoredEvent[] = [];
    for (const stored of events) {
      const event = decodeEvent(stored);
      if (typeof event === 'string' || !mayTouch(event, watch.service)) {
        run.push(stored);
        continue;
      }
      this.projection.applyBatch(run);
      run = [];
      const before = this.service(watch.service);
      const { touched } = this.projection.applyBatch([stored]);
      if (touched.services.has(key)) watch.onEvent({ stored, event, before, after: this.service(watch.service) });
    }
    this.projection.applyBatch(run);
  }
}

// Imports of that name, slices of its namespace (one may move between
// services) and the ends of re-lists (they drop objects not re-listed).
function mayTouch(event: ChangeEvent, service: ServiceRef): boolean {
  if (event.kind === 'Namespace') return false;
  if (isSyncEvent(event)) return event.op === 'sync-end';
  if (event.namespace !== service.namespace) return false;
  return event.kind === 'EndpointSlice' || event.name === service.name;
}
