// A read model replayed in memory, moved forward event by event range, for
// the audit questions. It starts from zero or from a checkpoint copied into
// memory. It can watch one service: the events that touched it are applied
// on their own, with the service's objects before and after.
import { statSync } from 'node:fs';
import type Database from 'better-sqlite3';
import type { EventLog, StoredEvent } from '../../shared/eventLog.js';
import { isSyncEvent, type ChangeEvent } from '../../shared/events.js';
import { silentLogger } from '../../shared/logger.js';
import { serviceRecords } from '../../shared/recordModel.js';
import { serviceKey, type DnsView, type ServiceRecords } from '../../shared/view.js';
import { listCheckpoints, type Checkpoint } from '../aggregator/checkpoints.js';
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
    this.projection = new Projection(model);
    this.importObjects = model.db.prepare<[string, string], { cluster: string; object: string }>(
      'SELECT cluster, object FROM service_imports WHERE namespace = ? AND name = ? ORDER BY cluster',
    );
    this.sliceObjects = model.db.prepare<[string, string], { cluster: string; name: string; object: string }>(
      'SELECT cluster, name, object FROM endpoint_slices WHERE namespace = ? AND service_name = ? ORDER BY cluster, name',
    );
  }

  // An empty read model in memory: seq 0, before any event.
  private static empty(): ReplayedState {
    return new ReplayedState(ReadModel.open(':memory:'));
  }

  // The newest checkpoint in `checkpointDir` at or before `seq` that can be
  // read and holds the sequence its name says, else empty. Checkpoints only
  // save time: a bad one is passed over.
  static nearest(checkpointDir: string | undefined, seq: number): ReplayedState {
    for (const checkpoint of checkpointsUpTo(checkpointDir, seq).reverse()) {
      const state = ReplayedState.fromCheckpoint(checkpoint.path);
      if (state && state.seq === checkpoint.seq) return state;
      state?.close();
    }
    return ReplayedState.empty();
  }

  // The checkpoint's rows copied into an in-memory read model; undefined when
  // the file is gone, is not SQLite, or holds another schema version.
  private static fromCheckpoint(path: string): ReplayedState | undefined {
    if (!isFile(path)) return undefined; // ATTACH would create it
    const model = ReadModel.open(':memory:');
    try {
      copyCheckpoint(path, model.db);
      return new ReplayedState(model);
    } catch {
      model.close();
      return undefined;
    }
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

  // The DNS view the aggregator derives from this state (sync timeouts aside);
  // with `only`, that service's records alone: all the names it owns need.
  view(only?: ServiceRef): DnsView {
    if (!only) return fullView({ model: this.model, expectedClusters: [], logger: silentLogger }, this.seq);
    const { records } = this.service(only);
    const services = records ? { [serviceKey(only.namespace, only.name)]: records } : {};
    return { version: this.seq, clusters: this.model.clusters(), namespaces: this.model.namespaces(), services };
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

// Checkpoints at or before `seq`, oldest first; none when the directory cannot be read.
export function checkpointsUpTo(dir: string | undefined, seq: number): Checkpoint[] {
  if (dir === undefined) return [];
  try {
    return listCheckpoints(dir).filter((c) => c.seq <= seq);
  } catch {
    return [];
  }
}

// Whether any event from..to may touch the service: a scan without projecting.
export async function mayBeTouched(log: EventLog, fromSeq: number, toSeq: number, service: ServiceRef): Promise<boolean> {
  let found = false;
  await readRange(log, fromSeq, toSeq, DEFAULT_REPLAY_BATCH, (events) => {
    found ||= events.some((stored) => {
      const event = decodeEvent(stored);
      return typeof event !== 'string' && mayTouch(event, service);
    });
  });
  return found;
}

// Every table of the read model, rows replaced by the checkpoint's (same schema version: same columns).
function copyCheckpoint(path: string, db: Database.Database): void {
  db.prepare('ATTACH ? AS checkpoint').run(path);
  try {
    const version = (schema: string) => db.pragma(`${schema}.user_version`, { simple: true }) as number;
    if (version('checkpoint') !== version('main')) throw new Error(`schema version ${version('checkpoint')}, not ${version('main')}`);
    const tables = db.prepare<[], string>("SELECT name FROM main.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").pluck().all();
    db.transaction(() => {
      for (const table of tables) db.exec(`DELETE FROM main."${table}"; INSERT INTO main."${table}" SELECT * FROM checkpoint."${table}";`);
    })();
  } finally {
    db.exec('DETACH checkpoint');
  }
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
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
