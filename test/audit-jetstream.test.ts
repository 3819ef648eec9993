// The same timeline in a JetStream stream: audit resolve, history and diff
// give, by time and by sequence, what they give on the embedded log.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { JetStreamEventLog } from '../shared/jetstreamEventLog.js';
import { SqliteEventLog } from '../shared/sqliteEventLog.js';
import { runAuditDiff, runAuditHistory, runAuditResolve } from '../services/audit/commands.js';
import type { NameDiff } from '../services/audit/diff.js';
import type { HistoryEntry } from '../services/audit/history.js';
import type { AuditAnswer } from '../services/audit/resolve.js';
import { item, tempDir } from './aggregator-events.js';
import { PHASES, writeTimeline, captureOutput } from './audit-timeline.js';
import { NatsServer, natsServerMissing } from './support/natsServer.js';

const zone = 'clusterset.local';
const names = ['web.prod.svc', 'db.prod.svc', '10-2-0-1.west.db.prod.svc'];

describe('audit on JetStream', { skip: natsServerMissing() }, () => {
  const temp = tempDir();
  let server: NatsServer;
  let nc: NatsConnection;
  let jetstream: JetStreamEventLog;
  let clock = 0;
  const embedded = SqliteEventLog.open(join(temp.dir, 'events.db'), { clock: () => clock });
  const phaseEnds: { seq: number; time: string }[] = [];
  const phaseStarts: { seq: number; time: string }[] = [];
  let embeddedSeqs: number[][] = [];

  before(async () => {
    server = await NatsServer.start();
    nc = await connect({ servers: server.url });
    jetstream = await JetStreamEventLog.open(nc, { prefix: 'audit' });
    embeddedSeqs = await writeTimeline(embedded, (ms) => (clock = ms));
    const moment = async (seq: number) => ({ seq, time: (await jetstream.read(seq, 1))[0]!.time.toISOString() });
    for (const phase of PHASES) {
      const results = await jetstream.append(phase.events.map(item));
      phaseStarts.push(await moment(results[0]!.seq));
      phaseEnds.push(await moment(results.at(-1)!.seq));
      await sleep(20); // the next phase a few milliseconds later: times tell phases apart
    }
  });
  after(async () => {
    await jetstream?.close();
    await nc?.close();
    await server?.stop();
    await embedded.close();
    temp.remove();
  });

  const resolve = async (log: JetStreamEventLog | SqliteEventLog, name: string, at: string) => {
    const answer = JSON.parse(await captureOutput((out) => runAuditResolve({ log, zone, ttl: 5, json: true, name, at }, out))) as AuditAnswer;
    return { rcode: answer.rcode, answer: answer.answer, authority: answer.authority.map((r) => r.type), lastChange: answer.lastChange?.seq };
  };

  it('answers like the embedded log at the end of every phase', async () => {
    assert.equal(await jetstream.lastSeq(), await embedded.lastSeq());
    for (const { seq, time } of phaseEnds) {
      for (const name of names) {
        const expected = await resolve(embedded, name, `#${seq}`);
        assert.deepEqual(await resolve(jetstream, name, `#${seq}`), expected, `${name} at seq ${seq}`);
        assert.deepEqual(await resolve(jetstream, name, time), expected, `${name} at ${time}`);
      }
    }
  });

  const history = async (log: JetStreamEventLog | SqliteEventLog, target: string, since?: string) =>
    JSON.parse(await captureOutput((out) => runAuditHistory({ log, zone, json: true, target, ...(since ? { since } : {}) }, out))) as HistoryEntry[];
  const diff = async (log: JetStreamEventLog | SqliteEventLog, from: string, to: string) =>
    JSON.parse(await captureOutput((out) => runAuditDiff({ log, zone, json: true, from, to }, out))) as NameDiff[];
  const withoutTimes = (entries: HistoryEntry[]) => entries.map(({ time: _, ...rest }) => rest);

  it('lists the history of a service or a name as the embedded log does, with the times of the stream', async () => {
    const web = await history(jetstream, 'prod/web');
    assert.deepEqual(
      web.map((e) => [e.seq, e.cluster, e.event]),
      [
        [embeddedSeqs[0]![4], 'east', 'upsert ServiceImport prod/web'],
        [embeddedSeqs[1]![4], 'west', 'upsert ServiceImport prod/web'],
        [embeddedSeqs[4]![0], 'east', 'delete ServiceImport prod/web'],
        [embeddedSeqs[4]![1], 'west', 'delete ServiceImport prod/web'],
        [embeddedSeqs[5]![0], 'east', 'upsert ServiceImport prod/web'],
      ],
    );
    for (const e of web) assert.equal(e.time, (await jetstream.read(e.seq, 1))[0]!.time.toISOString());
    for (const target of ['prod/web', 'prod/db', 'db.prod.svc', '10-2-0-1.west.db.prod.svc']) {
      for (const [phase, start] of phaseStarts.entries()) {
        const since = await history(jetstream, target, start.time);
        assert.deepEqual(withoutTimes(since), withoutTimes(await history(embedded, target, `#${start.seq}`)), `${target} since phase ${phase}`);
        assert.ok(since.every((e) => e.seq >= start.seq));
      }
    }
  });

  it('diffs every two moments as the embedded log does', async () => {
    const changes = await diff(jetstream, phaseEnds[2]!.time, phaseEnds[6]!.time);
    assert.deepEqual(
      changes.map((d) => d.name),
      ['10-1-0-1.east.db', '10-1-0-2.east.db', '10-1-0-3.east.db', '10-2-0-1.west.db', '10-2-0-9.west.db', '_pg._tcp.db', 'db', 'web'].map((n) => `${n}.prod.svc.${zone}.`),
    );
    for (const from of phaseEnds) {
      for (const to of phaseEnds.filter((p) => p.seq >= from.seq)) {
        assert.deepEqual(await diff(jetstream, from.time, to.time), await diff(embedded, `#${from.seq}`, `#${to.seq}`), `from seq ${from.seq} to ${to.seq}`);
      }
    }
  });
});
