// Given a scripted timeline in the embedded log, then audit resolve, history
// and diff give exactly the expected answers.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SqliteEventLog } from '../shared/sqliteEventLog.js';
import { runAuditDiff, runAuditHistory, runAuditResolve } from '../services/audit/commands.js';
import type { NameDiff } from '../services/audit/diff.js';
import type { HistoryEntry } from '../services/audit/history.js';
import { answerFromView, type AuditAnswer } from '../services/audit/resolve.js';
import { owningService, recordLines } from '../services/audit/records.js';
import { ReplayedState } from '../services/audit/state.js';
import { tempDir } from './aggregator-events.js';
import { at, writeTimeline, captureOutput } from './audit-timeline.js';

const zone = 'clusterset.local';
const now = new Date(at(60));

describe('audit over a scripted timeline', () => {
  const temp = tempDir();
  let clock = 0;
  const log = SqliteEventLog.open(join(temp.dir, 'events.db'), { clock: () => clock });
  let seqs: number[][] = [];

  before(async () => {
    seqs = await writeTimeline(log, (ms) => (clock = ms));
  });
  after(async () => {
    await log.close();
    temp.remove();
  });

  const resolve = async (name: string, when: string, type = 'A') =>
    JSON.parse(await captureOutput((out) => runAuditResolve({ log, zone, ttl: 5, json: true, name, type, at: when, now }, out))) as AuditAnswer;
  const addresses = (a: AuditAnswer) => a.answer.map((r) => r.data).sort();

  it('answers each name at each moment as mcsdns did', async () => {
    const cases: [string, string, string, string[]][] = [
      ['web.prod.svc.clusterset.local', at(0, 30), 'NOERROR', ['10.0.0.1']],
      ['web.prod.svc.clusterset.local', at(4, 30), 'NXDOMAIN', []],
      ['web.prod.svc.clusterset.local', at(5, 30), 'NOERROR', ['10.0.0.2']],
      ['db.prod.svc.clusterset.local', at(0, 30), 'NOERROR', ['10.1.0.1', '10.1.0.2']],
      ['db.prod.svc.clusterset.local', at(1, 30), 'NOERROR', ['10.1.0.1', '10.1.0.2', '10.2.0.1']],
      ['db.prod.svc.clusterset.local', at(2, 30), 'NOERROR', ['10.1.0.1', '10.1.0.2', '10.1.0.3', '10.2.0.1']],
      ['db.prod.svc.clusterset.local', at(3, 30), 'NOERROR', ['10.2.0.1']],
      ['db.prod.svc.clusterset.local', '-1m', 'NOERROR', ['10.2.0.9']],
      ['10-2-0-1.west.db.prod.svc.clusterset.local', at(3, 30), 'NOERROR', ['10.2.0.1']],
      ['10-2-0-1.west.db.prod.svc.clusterset.local', at(6, 30), 'NXDOMAIN', []],
      ['ghost.prod.svc.clusterset.local', 'now', 'NXDOMAIN', []],
    ];
    for (const [name, when, rcode, expected] of cases) {
      const answer = await resolve(name, when);
      assert.equal(answer.rcode, rcode, `${name} at ${when}`);
      assert.deepEqual(addresses(answer), expected, `${name} at ${when}`);
    }
  });

  it('names the point, the SOA of a negative answer and the event that last changed the name', async () => {
    const gone = await resolve('web.prod.svc', at(4, 30));
    assert.deepEqual(gone.at, { seq: seqs[4]!.at(-1), time: at(4) });
    assert.deepEqual(gone.lastChange, { seq: seqs[4]![1], time: at(4) }); // the second delete removed the last import
    assert.equal(gone.authority[0]?.type, 'SOA');
    assert.equal(gone.authority[0]?.data, `ns.dns.${zone}. hostmaster.${zone}. ${seqs[4]!.at(-1)} 7200 1800 86400 5`);
    assert.deepEqual((await resolve('web.prod.svc', at(6, 30))).lastChange, { seq: seqs[5]![0], time: at(5) });
    const srv = await resolve('_pg._tcp.db.prod.svc', at(6, 30), 'SRV');
    assert.deepEqual(srv.answer.map((r) => r.data), [`0 100 5432 10-2-0-9.west.db.prod.svc.${zone}.`]);
    assert.deepEqual(srv.additional.map((r) => `${r.name} ${r.data}`), [`10-2-0-9.west.db.prod.svc.${zone}. 10.2.0.9`]);
  });

  it("answers a service's names from its records alone as from the whole view", async () => {
    const state = ReplayedState.nearest(undefined, 0);
    try {
      // The end of each phase, and the middle of west's first sync (NXDOMAIN is SERVFAIL then).
      for (const seq of [seqs[1]![3]!, ...seqs.map((phase) => phase.at(-1)!)].sort((a, b) => a - b)) {
        await state.advance(log, seq);
        const whole = state.view();
        const names = Object.values(whole.services).flatMap((records) => recordLines(records, zone).map((l) => l.slice(0, l.indexOf(' '))));
        for (const fqdn of new Set([...names, `web.prod.svc.${zone}.`, `db.prod.svc.${zone}.`, `x.east.db.prod.svc.${zone}.`, `ghost.prod.svc.${zone}.`])) {
          const service = owningService(fqdn.slice(0, -`.${zone}.`.length))!;
          for (const type of ['A', 'AAAA', 'SRV', 'ANY'] as const) {
            assert.deepEqual(answerFromView(state.view(service), zone, 5, fqdn, type), answerFromView(whole, zone, 5, fqdn, type), `${fqdn} ${type} at seq ${seq}`);
          }
        }
      }
    } finally {
      state.close();
    }
  });

  it('prints dig-like text', async () => {
    const text = await captureOutput((out) => runAuditResolve({ log, zone, ttl: 5, name: 'web.prod.svc.clusterset.local.', at: at(4, 30), now }, out));
    assert.match(text, /;; ->>HEADER<<- opcode: QUERY, status: NXDOMAIN\n/);
    assert.match(text, /;; AUTHORITY SECTION:\nclusterset\.local\.\t5\tIN\tSOA\tns\.dns\.clusterset\.local\. /);
    assert.match(text, new RegExp(`;; last changed by: seq ${seqs[4]![1]} at ${at(4)}`));
    const ok = await captureOutput((out) => runAuditResolve({ log, zone, ttl: 5, name: 'web.prod.svc.clusterset.local', at: at(5, 30), now }, out));
    assert.match(ok, /;; ANSWER SECTION:\nweb\.prod\.svc\.clusterset\.local\.\t5\tIN\tA\t10\.0\.0\.2\n/);
  });

  it('lists the events that touched a service, with object and DNS changes', async () => {
    const history = JSON.parse(await captureOutput((out) => runAuditHistory({ log, zone, json: true, target: 'prod/web', now }, out))) as HistoryEntry[];
    const A = (ip: string) => `web.prod.svc.${zone}. A ${ip}`;
    const SRV = (weight: number) => [`_http._tcp.web.prod.svc.${zone}. SRV 0 ${weight} 80 web.prod.svc.${zone}.`, `web.prod.svc.${zone}. SRV 0 ${weight} 80 web.prod.svc.${zone}.`];
    assert.deepEqual(
      history.map((e) => [e.seq, e.time, e.cluster, e.event, e.objects.map((o) => `${o.change} ${o.object}`), e.dns]),
      [
        [seqs[0]![4], at(0), 'east', 'upsert ServiceImport prod/web', ['created ServiceImport east prod/web'], { added: [...SRV(100), A('10.0.0.1')].sort(), removed: [] }],
        [seqs[1]![4], at(1), 'west', 'upsert ServiceImport prod/web', ['created ServiceImport west prod/web'], { added: [], removed: [] }],
        [seqs[4]![0], at(4), 'east', 'delete ServiceImport prod/web', ['deleted ServiceImport east prod/web'], { added: [], removed: [] }],
        [seqs[4]![1], at(4), 'west', 'delete ServiceImport prod/web', ['deleted ServiceImport west prod/web'], { added: [], removed: [...SRV(100), A('10.0.0.1')].sort() }],
        [seqs[5]![0], at(5), 'east', 'upsert ServiceImport prod/web', ['created ServiceImport east prod/web'], { added: [...SRV(100), A('10.0.0.2')].sort(), removed: [] }],
      ],
    );
  });

  it('shows the fields that changed and narrows to one name', async () => {
    const text = await captureOutput((out) => runAuditHistory({ log, zone, target: 'db.prod.svc', since: at(3), until: at(3, 59), now }, out));
    assert.equal(
      text,
      [
        `${at(3)}  seq ${seqs[3]![0]}  cluster east  upsert EndpointSlice prod/db-east`,
        '    changed EndpointSlice east prod/db-east',
        '      endpoints[0].ready: true -> false',
        '      endpoints[1].ready: true -> false',
        '      endpoints[2].ready: true -> false',
        `    - db.prod.svc.${zone}. A 10.1.0.1`,
        `    - db.prod.svc.${zone}. A 10.1.0.2`,
        `    - db.prod.svc.${zone}. A 10.1.0.3`,
        ...['10-1-0-1.east', '10-1-0-2.east', '10-1-0-3.east', '10-2-0-1.west'].map((h) => `    - db.prod.svc.${zone}. SRV 0 25 5432 ${h}.db.prod.svc.${zone}.`),
        `    + db.prod.svc.${zone}. SRV 0 100 5432 10-2-0-1.west.db.prod.svc.${zone}.`,
        '',
      ].join('\n'),
    );
    const relist = JSON.parse(await captureOutput((out) => runAuditHistory({ log, zone, json: true, target: '10-2-0-1.west.db.prod.svc.clusterset.local', since: at(6), now }, out))) as HistoryEntry[];
    assert.deepEqual(
      relist.map((e) => [e.seq, e.event, e.objects.map((o) => `${o.change} ${o.object}`), e.dns.removed]),
      [[seqs[6]!.at(-1), 'sync-end EndpointSlice epoch 2', ['deleted EndpointSlice west prod/db-west'], [`10-2-0-1.west.db.prod.svc.${zone}. A 10.2.0.1`]]],
    );
  });

  it('diffs every name between two moments', async () => {
    const diff = JSON.parse(await captureOutput((out) => runAuditDiff({ log, zone, json: true, from: at(2, 30), to: at(6, 30), now }, out))) as NameDiff[];
    const srvDb = (host: string, weight: number) => `SRV 0 ${weight} 5432 ${host}.db.prod.svc.${zone}.`;
    assert.deepEqual(diff, [
      { name: `10-1-0-1.east.db.prod.svc.${zone}.`, added: [], removed: [`10-1-0-1.east.db.prod.svc.${zone}. A 10.1.0.1`] },
      { name: `10-1-0-2.east.db.prod.svc.${zone}.`, added: [], removed: [`10-1-0-2.east.db.prod.svc.${zone}. A 10.1.0.2`] },
      { name: `10-1-0-3.east.db.prod.svc.${zone}.`, added: [], removed: [`10-1-0-3.east.db.prod.svc.${zone}. A 10.1.0.3`] },
      { name: `10-2-0-1.west.db.prod.svc.${zone}.`, added: [], removed: [`10-2-0-1.west.db.prod.svc.${zone}. A 10.2.0.1`] },
      { name: `10-2-0-9.west.db.prod.svc.${zone}.`, added: [`10-2-0-9.west.db.prod.svc.${zone}. A 10.2.0.9`], removed: [] },
      {
        name: `_pg._tcp.db.prod.svc.${zone}.`,
        added: [`_pg._tcp.db.prod.svc.${zone}. ${srvDb('10-2-0-9.west', 100)}`],
        removed: ['10-1-0-1.east', '10-1-0-2.east', '10-1-0-3.east', '10-2-0-1.west'].map((h) => `_pg._tcp.db.prod.svc.${zone}. ${srvDb(h, 25)}`),
      },
      {
        name: `db.prod.svc.${zone}.`,
        added: [`db.prod.svc.${zone}. A 10.2.0.9`, `db.prod.svc.${zone}. ${srvDb('10-2-0-9.west', 100)}`],
        removed: [
          ...['10.1.0.1', '10.1.0.2', '10.1.0.3', '10.2.0.1'].map((ip) => `db.prod.svc.${zone}. A ${ip}`),
          ...['10-1-0-1.east', '10-1-0-2.east', '10-1-0-3.east', '10-2-0-1.west'].map((h) => `db.prod.svc.${zone}. ${srvDb(h, 25)}`),
        ],
      },
      { name: `web.prod.svc.${zone}.`, added: [`web.prod.svc.${zone}. A 10.0.0.2`], removed: [`web.prod.svc.${zone}. A 10.0.0.1`] },
    ]);
    assert.equal(await captureOutput((out) => runAuditDiff({ log, zone, from: at(0, 10), to: at(0, 50), now }, out)), 'no differences\n');
  });

  it('refuses bad input in one line', async () => {
    const refused = async (run: (out: (s: string) => void) => Promise<void>, message: RegExp) => {
      let written = '';
      await assert.rejects(run((s) => (written += s)), (err: Error) => message.test(err.message) && !err.message.includes('\n'));
      assert.equal(written, '');
    };
    await refused((out) => runAuditResolve({ log, zone, ttl: 5, name: 'web.prod.svc', at: '2025-06-01T11:59:00Z', now }, out), /before the event log's first retained event; the earliest available moment is 2025-06-01T12:00:00.000Z \(seq 1\)/);
    await refused((out) => runAuditResolve({ log, zone, ttl: 5, name: 'web.prod.svc', at: 'yesterday', now }, out), /invalid point "yesterday"/);
    await refused((out) => runAuditResolve({ log, zone, ttl: 5, name: 'web.prod.svc', at: '#999', now }, out), /sequence 999 is not in the event log: it holds 1 to \d+/);
    await refused((out) => runAuditResolve({ log, zone, ttl: 5, name: 'web.example.com', now }, out), /is not a name in zone clusterset\.local/);
    await refused((out) => runAuditResolve({ log, zone, ttl: 5, name: 'web.prod.svc', type: 'MX', now }, out), /unsupported query type "MX"/);
    await refused((out) => runAuditHistory({ log, zone, target: 'prod/ghost', now }, out), /touched service prod\/ghost.*unknown/);
    await refused((out) => runAuditHistory({ log, zone, target: 'Prod/web!', now }, out), /invalid service/);
    await refused((out) => runAuditHistory({ log, zone, target: 'web.prod.svc', since: '-99999d', now }, out), /earliest available moment/);
    await refused((out) => runAuditDiff({ log, zone, from: at(5), to: at(1), now }, out), /--to \(seq \d+\) is before --from/);
  });
});
