// The EventLog contract: every implementation (embedded SQLite, JetStream)
// runs these cases through the interface only.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AppendItem, EventLog, FollowedBatch, StoredEvent } from '../shared/eventLog.js';

export interface OpenedLog {
  log: EventLog;
  // Opens the same log again; the suite has closed the previous instance first.
  reopen?: () => Promise<EventLog>;
  // Removes what open created; called after the suite closed its logs.
  cleanup: () => Promise<void>;
}

function item(id: string, cluster = 'east', payload = `{"id":"${id}"}`): AppendItem {
  return { id, cluster, payload };
}

function seqs(events: StoredEvent[]): number[] {
  return events.map((e) => e.seq);
}

// Appends e<from>…e<to> of `cluster`, each payload naming its number.
export function items(from: number, to: number, cluster = 'east'): AppendItem[] {
  return range(from, to).map((n) => ({ id: `e${n}`, cluster, payload: `{"n":${n}}` }));
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

// Consumes follow() in the background, collecting every event delivered.
function follower(log: EventLog, fromSeq: number) {
  const controller = new AbortController();
  const events: StoredEvent[] = [];
  const done = (async () => {
    for await (const batch of log.follow(fromSeq, controller.signal)) events.push(...batch.events);
  })();
  async function until(predicate: () => boolean, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) assert.fail(`follow delivered only seqs ${seqs(events).join(',')}`);
      await sleep(5);
    }
  }
  return { events, until, done, abort: () => controller.abort() };
}

export function eventLogContract(name: string, open: () => Promise<OpenedLog>): void {
  describe(`EventLog contract: ${name}`, () => {
    let opened: OpenedLog;
    let log: EventLog;

    beforeEach(async () => {
      opened = await open();
      log = opened.log;
    });
    afterEach(async () => {
      await log.close();
      await opened.cleanup();
    });

    // Closes the current instance and opens the same log again (skips the
    // test when the implementation offers no reopen).
    async function reopen(t: { skip: (why: string) => void }): Promise<boolean> {
      if (!opened.reopen) {
        t.skip('no reopen');
        return false;
      }
      await log.close();
      log = await opened.reopen();
      return true;
    }

    it('starts empty', async () => {
      assert.equal(await log.lastSeq(), 0);
      assert.deepEqual(await log.read(1, 10), []);
      assert.equal(await log.seqAtTime(new Date(0)), undefined);
    });

    it('numbers events 1, 2, 3… in append order', async () => {
      const first = await log.append([item('a'), item('b'), item('c')]);
      assert.deepEqual(first, [1, 2, 3].map((seq) => ({ seq, duplicate: false })));
      const second = await log.append([item('d'), item('e')]);
      assert.deepEqual(second, [4, 5].map((seq) => ({ seq, duplicate: false })));
      assert.equal(await log.lastSeq(), 5);
      const all = await log.read(1, 100);
      assert.deepEqual(seqs(all), [1, 2, 3, 4, 5]);
      assert.deepEqual(all.map((e) => e.id), ['a', 'b', 'c', 'd', 'e']);
    });

    it('keeps id, cluster and payload exactly, and stamps the time it accepted the event', async () => {
      const payload = JSON.stringify({ text: 'ünïcødé "quoted"\n\ttab', n: 1.5, nested: { list: [1, null] } });
      const before = Date.now();
      await log.append([{ id: 'west/ServiceImport/7/upsert/ns/svc/42', cluster: 'west', payload }]);
      const after = Date.now();
      const [stored] = await log.read(1, 1);
      assert.ok(stored);
      assert.equal(stored.id, 'west/ServiceImport/7/upsert/ns/svc/42');
      assert.equal(stored.cluster, 'west');
      assert.equal(stored.payload, payload);
      assert.ok(stored.time instanceof Date);
      // Slack for a server whose clock is not ours.
      assert.ok(stored.time.getTime() >= before - 2000 && stored.time.getTime() <= after + 2000);
    });

    it('appends all or nothing in one call', async () => {
      await log.append([item('a')]);
      await assert.rejects(log.append([item('b'), item('c'), { id: '', cluster: 'east', payload: '{}' }]));
      assert.equal(await log.lastSeq(), 1);
      assert.deepEqual(await log.append([item('b')]), [{ seq: 2, duplicate: false }]);
    });

    it('returns the original seq for a duplicate id and adds nothing', async () => {
      await log.append([item('a'), item('b')]);
      const again = await log.append([item('b', 'east', '{"other":true}'), item('c'), item('a')]);
      assert.deepEqual(again, [
        { seq: 2, duplicate: true },
        { seq: 3, duplicate: false },
        { seq: 1, duplicate: true },
      ]);
      const all = await log.read(1, 100);
      assert.deepEqual(all.map((e) => e.id), ['a', 'b', 'c']);
      assert.equal(all[1]?.payload, '{"id":"b"}');
    });

    it('treats a repeated id within one call as a duplicate', async () => {
      const results = await log.append([item('x'), item('y'), item('x')]);
      assert.deepEqual(results, [
        { seq: 1, duplicate: false },
        { seq: 2, duplicate: false },
        { seq: 1, duplicate: true },
      ]);
      assert.equal(await log.lastSeq(), 2);
    });

    it('remembers ids after reopening', async (t) => {
      await log.append([item('a'), item('b')]);
      if (!(await reopen(t))) return;
      assert.deepEqual(await log.append([item('b'), item('c')]), [
        { seq: 2, duplicate: true },
        { seq: 3, duplicate: false },
      ]);
    });

    it('reads from a seq, at most limit events', async () => {
      await log.append(range(1, 10).map((n) => item(`e${n}`)));
      assert.deepEqual(seqs(await log.read(4, 3)), [4, 5, 6]);
      assert.deepEqual(seqs(await log.read(9, 5)), [9, 10]);
      assert.deepEqual(seqs(await log.read(11, 5)), []);
      assert.deepEqual(seqs(await log.read(0, 2)), [1, 2]);
    });

    it('follows: existing events, then new ones, in order, without gaps or repeats', async () => {
      await log.append([item('a'), item('b'), item('c')]);
      const f = follower(log, 2);
      await f.until(() => f.events.length >= 2);
      await log.append([item('d')]);
      await log.append([item('a'), item('e'), item('f')]); // 'a' is a duplicate: not delivered again
      for (let n = 0; n < 20; n++) await log.append([item(`g${n}`)]);
      await f.until(() => f.events.length >= 25);
      await sleep(50); // anything extra would show up here
      f.abort();
      await f.done;
      assert.deepEqual(seqs(f.events), range(2, 26));
      assert.deepEqual(f.events.slice(0, 5).map((e) => e.id), ['b', 'c', 'd', 'e', 'f']);
    });

    it('says with each followed batch how many events the log holds beyond it', async () => {
      await log.append(range(1, 30).map((n) => item(`e${n}`)));
      const controller = new AbortController();
      const batches: { last: number; behind: number }[] = [];
      for await (const { events, behind } of log.follow(5, controller.signal)) {
        batches.push({ last: events[events.length - 1]!.seq, behind });
        if (behind === 0) controller.abort();
      }
      assert.deepEqual(batches.map((b) => b.behind), batches.map((b) => 30 - b.last));
      assert.equal(batches.at(-1)?.last, 30);
    });

    it('follows from an empty log', async () => {
      const f = follower(log, 1);
      await sleep(20);
      await log.append([item('a'), item('b')]);
      await f.until(() => f.events.length >= 2);
      f.abort();
      await f.done;
      assert.deepEqual(seqs(f.events), [1, 2]);
    });

    it('stops following promptly when the signal aborts while waiting', async () => {
      const f = follower(log, 1);
      await sleep(20);
      const aborted = Date.now();
      f.abort();
      await f.done;
      assert.ok(Date.now() - aborted < 1000, 'follow ended within a second of the abort');
      assert.deepEqual(f.events, []);
    });

    it('yields nothing for an already aborted signal', async () => {
      await log.append([item('a')]);
      const batches: FollowedBatch[] = [];
      for await (const batch of log.follow(1, AbortSignal.abort())) batches.push(batch);
      assert.deepEqual(batches, []);
    });

    it('finds the first seq at or after a time', async () => {
      await log.append([item('a')]);
      await sleep(30);
      await log.append([item('b')]);
      const [a, b] = await log.read(1, 2);
      assert.ok(a && b && b.time.getTime() > a.time.getTime());
      assert.equal(await log.seqAtTime(new Date(a.time.getTime() - 60_000)), 1);
      assert.equal(await log.seqAtTime(a.time), 1);
      assert.equal(await log.seqAtTime(new Date(a.time.getTime() + 1)), 2);
      assert.equal(await log.seqAtTime(b.time), 2);
      assert.equal(await log.seqAtTime(new Date(b.time.getTime() + 1)), undefined);
    });

    it('keeps everything across a reopen and continues the sequence', async (t) => {
      await log.append([item('a', 'east'), item('b', 'west')]);
      const before = await log.read(1, 10);
      if (!(await reopen(t))) return;
      assert.deepEqual(await log.read(1, 10), before);
      assert.equal(await log.lastSeq(), 2);
      assert.deepEqual(await log.append([item('c')]), [{ seq: 3, duplicate: false }]);
    });
  });
}
