// A view handed over part by part, in the order a snapshot holds them: its
// head, every service, every overlay, then done. What reads a snapshot this
// way (viewSnapshot.ts readViewInto) builds from it as it goes and never
// holds the whole view: a frontend compiles its answers straight from the bytes.
import { nameRecord, type DnsView, type ServiceOverlay, type ServiceRecords, type ViewRecord } from './view.js';

export type ViewHead = Pick<DnsView, 'version' | 'clusters' | 'namespaces'>;

// A service's names in the order the view holds them, each with its records:
// ServiceRecords as a Map, which a snapshot is read into far sooner (an
// object interns every new key, a Map does not).
export type ServiceNames = ReadonlyMap<string, ViewRecord[]>;

// Records made of a Map (recordsOf) keep it: namesOf hands that Map back, and
// their object `names` is built, frozen, only when something reads it. A
// delta's services go from the bytes to a frontend's answers as Maps.
const mapped = new WeakMap<ServiceRecords, ServiceNames>();

export const namesOf = (records: ServiceRecords): ServiceNames => mapped.get(records) ?? new Map(Object.entries(records.names));

export function recordsOf(names: ServiceNames): ServiceRecords {
  let built: Record<string, ViewRecord[]> | undefined;
  const records = Object.defineProperty({} as ServiceRecords, 'names', { enumerable: true, get: () => (built ??= Object.freeze(objectOf(names))) });
  mapped.set(records, names);
  return records;
}

function objectOf(names: ServiceNames): Record<string, ViewRecord[]> {
  const records = nameRecord<ViewRecord[]>();
  for (const [name, list] of names) records[name] = list;
  return records;
}

export interface ViewBuilder {
  head(head: ViewHead): void;
  service(key: string, names: ServiceNames): void;
  overlay(cluster: string, overlay: ServiceOverlay): void;
  // Every part was handed over and checked; a read that fails never gets here.
  done(): void;
}

export function buildFrom(view: DnsView, builder: ViewBuilder): void {
  builder.head({ version: view.version, clusters: view.clusters, namespaces: view.namespaces });
  for (const key of Object.keys(view.services)) builder.service(key, namesOf(view.services[key]!));
  for (const [cluster, overlay] of Object.entries(view.views ?? {})) builder.overlay(cluster, overlay);
  builder.done();
}

// The view a read hands over (`read` calls the builder's methods).
export function viewOf(read: (builder: ViewBuilder) => void): DnsView {
  let view: DnsView | undefined;
  read(dnsViewBuilder((built) => (view = built)));
  return view!;
}

// Builds the DnsView itself; `done` gets it.
export function dnsViewBuilder(done: (view: DnsView) => void): ViewBuilder {
  let view!: DnsView; // from head() on
  return {
    head: ({ version, clusters, namespaces }) => void (view = { version, clusters, namespaces, services: nameRecord() }),
    service: (key, names) => void (view.services[key] = recordsOf(names)),
    overlay: (cluster, overlay) => void ((view.views ??= {})[cluster] = overlay),
    done: () => done(view),
  };
}
