// node --import tsx scripts/bench/aggregatorChurn.ts: what each delta costs
// when changes come a few at a time, as in bench:fresh. A synced clusterset
// in an embedded log, then rounds of B ServiceImport address changes, each
// appended, applied and in the view before the next (rounds are at least the
// aggregator's VIEW_PACING_MS apart, so each is a delta of its own). Prints
// CPU µs per change and per round for each B, all in this one process (log,
// aggregator, and a frontend's answer table taking each delta), and apart the
// delta's encoding and the answer table's share. Sizes: CHURN_SERVICES (3000
// per cluster, all imported by 3 clusters), CHURN_ROUNDS (500), CHURN_BATCHES
// (1,3,10,30); CHURN_PROFILE=B writes a CPU profile of that batch size's
// rounds through the inspector to aggregatorChurn.cpuprofile.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventId, encodeEvent, KINDS, type ChangeEvent, type Kind } from '../../shared/events.js';
import { silentLogger } from '../../shared/logger.js';
import { SqliteEventLog } from '../../shared/sqliteEventLog.js';
import type { ViewDelta } from '../../shared/view.js';
import { deltaMessages, parseDeltaMessage } from '../../shared/viewWire.js';
import { Aggregator } from '../../services/aggregator/aggregator.js';
import { applyDelta, compileAnswers, type AnswerTable } from '../../services/frontend/answers.js';
import { envNumber } from './env.js';

const CLUSTERS = ['east', 'west', 'north'];
const services = envNumber('CHURN_SERVICES', 3000);
const rounds = envNumber('CHURN_ROUNDS', 500);
const batches = (process.env.CHURN_BATCHES ?? '1,3,10,30').split(',').map(Number);
const profileBatch = envNumber('CHURN_PROFILE', 0);

const observedAt = new Date().toISOString();
let version = 0;
const ref = (cluster: string, kind: Kind, namespace: string, name: string) =>
  ({ v: 1, cluster, kind, observedAt, epoch: 1, namespace, name, uid: `${cluster}-${namespace}-${name}`, resourceVersion: String(++version), op: 'upsert' }) as const;
const sync = (cluster: string, op: 'sync-begin' | 'sync-end'): ChangeEvent => ({ v: 1, cluster, kind: 'ServiceImport', observedAt, epoch: 1, op, kinds: [...KINDS] });
const address = (n: number) => `100.${64 + (n >>> 16)}.${(n >>> 8) & 255}.${n & 255}`;
const serviceImport = (cluster: string, s: number, ip: string): ChangeEvent => ({
  ...ref(cluster, 'ServiceImport', `ns-${s % 50}`, `svc-${s}`),
  kind: 'ServiceImport',
  object: { type: 'ClusterSetIP', ips: [ip], ports: [{ name: 'http', protocol: 'TCP', port: 80 }] },
});
const item = (e: ChangeEvent) => ({ id: eventId(e), cluster: e.cluster, payload: encodeEvent(e) });

const dir = mkdtempSync(join(tmpdir(), 'mcsdns-churn-'));
const log = await SqliteEventLog.open(join(dir, 'events.db'));
for (const cluster of CLUSTERS) {
  const events = [sync(cluster, 'sync-begin')];
  for (let s = 0; s < services; s++) events.push(serviceImport(cluster, s, address(s)));
  events.push(sync(cluster, 'sync-end'));
  await log.append(events.map(item));
}
const aggregator = Aggregator.open({ log, dbPath: join(dir, 'model.db'), expectedClusters: CLUSTERS, logger: silentLogger });
// What a frontend does with each delta, timed apart: encoded, parsed, applied to its answer table.
let table: AnswerTable | undefined;
const spent = { encode: 0, frontend: 0 };
const cpuUs = (since: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(since);
  return used.user + used.system;
};
aggregator.subscribe({
  snapshot: (view) => void (table = compileAnswers(view, ['clusterset.local'], 5, {}, CLUSTERS)),
  delta: (delta) => {
    const start = process.cpuUsage();
    const [message] = deltaMessages(delta, 1 << 20) ?? [];
    const encoded = process.cpuUsage();
    spent.encode += cpuUs(start);
    if (!table || !message || !applyDelta(table, parseDeltaMessage(message) as ViewDelta)) throw new Error(`delta ${delta.from} → ${delta.to} does not apply`);
    spent.frontend += cpuUs(encoded);
  },
});
await aggregator.start();
if (!(await aggregator.waitForSeq(await log.lastSeq(), 60_000))) throw new Error('the aggregator did not catch up with the sync');

let change = 0;
console.log(`aggregator CPU per change, ${services} services in each of ${CLUSTERS.length} clusters, ${rounds} rounds per batch size`);
for (const batch of batches) {
  const session = batch === profileBatch ? new Session() : undefined;
  if (session) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  const cpu = process.cpuUsage();
  spent.encode = spent.frontend = 0;
  for (let r = 0; r < rounds; r++) {
    const events: ChangeEvent[] = [];
    for (let k = 0; k < batch; k++, change++) events.push(serviceImport(CLUSTERS[change % CLUSTERS.length]!, (change * 7919) % services, address(1_000_000 + change)));
    const [last] = (await log.append(events.map(item))).slice(-1);
    if (!(await aggregator.waitForSeq(last!.seq, 10_000))) throw new Error(`seq ${last!.seq} not in the view`);
  }
  const used = process.cpuUsage(cpu);
  if (session) {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync('aggregatorChurn.cpuprofile', JSON.stringify(profile));
    session.disconnect();
  }
  const us = used.user + used.system;
  const perRound = (n: number) => (n / rounds).toFixed(0).padStart(6);
  console.log(
    `  ${String(batch).padStart(3)} per round: ${(us / (rounds * batch)).toFixed(0).padStart(5)} µs per change, ${perRound(us)} µs per round,` +
      ` of which encoding the delta ${perRound(spent.encode)} µs and a frontend table taking it ${perRound(spent.frontend)} µs`,
  );
}
await aggregator.stop();
await log.close();
rmSync(dir, { recursive: true, force: true });
