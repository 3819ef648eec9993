// A scripted history for the audit tests: two clusters, create, scale,
// endpoints not ready, delete, re-create, and a re-list after 410 Gone,
// one phase a minute from 12:00 on 2025-06-01.
import type { EventLog } from '../shared/eventLog.js';
import { KINDS, type ChangeEvent } from '../shared/events.js';
import { deleted, endpointSlice, item, namespace, ready, serviceImport, syncBegin, syncEnd } from './aggregator-events.js';

export const T0 = Date.parse('2025-06-01T12:00:00.000Z');
export const at = (minutes: number, seconds = 0) => new Date(T0 + minutes * 60_000 + seconds * 1000).toISOString();

const notReady = (...addresses: string[]) => ({ addresses, ready: false });
const sync = (cluster: string, epoch: number, objects: ChangeEvent[]) => [
  ...KINDS.map((k) => syncBegin(cluster, k, epoch)),
  ...objects,
  ...KINDS.map((k) => syncEnd(cluster, k, epoch)),
];
const web = (cluster: string, ip: string) => serviceImport(cluster, 'prod', 'web', { ips: [ip], ports: [{ name: 'http', protocol: 'TCP', port: 80 }] });
const db = (cluster: string) => serviceImport(cluster, 'prod', 'db', { type: 'Headless', ports: [{ name: 'pg', protocol: 'TCP', port: 5432 }] });

// Minute by minute; what each phase does is in its name.
export const PHASES: { name: string; events: ChangeEvent[] }[] = [
  {
    name: 'east syncs: web 10.0.0.1, headless db with 10.1.0.1 and 10.1.0.2',
    events: sync('east', 1, [namespace('east', 'prod'), web('east', '10.0.0.1'), db('east'), endpointSlice('east', 'prod', 'db-east', 'db', [ready('10.1.0.1'), ready('10.1.0.2')])]),
  },
  {
    name: 'west syncs: web 10.0.0.1 too, db endpoint 10.2.0.1',
    events: sync('west', 1, [namespace('west', 'prod'), web('west', '10.0.0.1'), db('west'), endpointSlice('west', 'prod', 'db-west', 'db', [ready('10.2.0.1')])]),
  },
  { name: 'east scales db to three', events: [endpointSlice('east', 'prod', 'db-east', 'db', [ready('10.1.0.1'), ready('10.1.0.2'), ready('10.1.0.3')])] },
  { name: "east's db endpoints become not ready", events: [endpointSlice('east', 'prod', 'db-east', 'db', [notReady('10.1.0.1'), notReady('10.1.0.2'), notReady('10.1.0.3')])] },
  { name: 'web is deleted in both clusters', events: [deleted('east', 'ServiceImport', 'prod', 'web'), deleted('west', 'ServiceImport', 'prod', 'web')] },
  { name: 'web is re-created in east with 10.0.0.2', events: [web('east', '10.0.0.2')] },
  {
    name: "west re-lists its slices after 410 Gone: db-west is gone, db-west-2 has 10.2.0.9",
    events: [syncBegin('west', 'EndpointSlice', 2), endpointSlice('west', 'prod', 'db-west-2', 'db', [ready('10.2.0.9')], 2), syncEnd('west', 'EndpointSlice', 2)],
  },
];

// Appends the phases, each at its minute; the sequences of each phase's events.
export async function writeTimeline(log: EventLog, setClock: (ms: number) => void): Promise<number[][]> {
  const seqs: number[][] = [];
  for (const [minute, phase] of PHASES.entries()) {
    setClock(T0 + minute * 60_000);
    seqs.push((await log.append(phase.events.map(item))).map((r) => r.seq));
  }
  return seqs;
}

// What a command that writes through `out` printed.
export async function captureOutput(run: (out: (s: string) => void) => Promise<void>): Promise<string> {
  let text = '';
  await run((s) => (text += s));
  return text;
}
