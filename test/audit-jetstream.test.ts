// The same timeline in a JetStream stream: audit resolve gives, by time and
// by sequence, what it gives on the embedded log.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { JetStreamEventLog } from '../shared/jetstreamEventLog.js';
import { SqliteEventLog } from '../shared/sqliteEventLog.js';
import { runAuditResolve } from '../services/audit/commands.js';
import type { AuditAnswer } from '../services/audit/resolve.js';
import { item, tempDir } from './aggregator-events.js';
import { PHASES, writeTimeline } from './audit-timeline.js';
import { NatsServer, natsServerMissing } from './support/natsServer.js';

const zone = 'clusterset.local';
const names = ['web.prod.svc', 'db.prod.svc', '10-2-0-1.west.db.prod.svc'];

describe('audit resolve on JetStream', { skip: natsServerMissing() }, () => {
  const temp = tempDir();
  let server: NatsServer;
  let nc: NatsConnection;
  let jetstream: JetStreamEventLog;
  let clock = 0;
  const embedded = SqliteEventLog.open(join(temp.dir, 'events.db'), { clock: () => clock });
  const phaseEnds: { seq: number; time: string }[] = [];

  before(async () => {
    server = await NatsServer.start();
    nc = await connect({ servers: server.url });
    jetstream = await JetStreamEventLog.open(nc, { prefix: 'audit' });
    await writeTimeline(embedded, (ms) => (clock = ms));
    for (const phase of PHASES) {
      const results = await jetstream.append(phase.events.map(item));
      const seq = results.at(-1)!.seq;
      phaseEnds.push({ seq, time: (await jetstream.read(seq, 1))[0]!.time.toISOString() });
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
    let text = '';
    await runAuditResolve({ log, zone, ttl: 5, json: true, name, at }, (s) => (text += s));
    const answer = JSON.parse(text) as AuditAnswer;
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
});
