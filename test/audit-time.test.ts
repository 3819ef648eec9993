// Times and points as users write them; progress lines.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { progressBar, progressLine, progressReporter } from '../services/audit/progress.js';
import { parsePoint, parseTime } from '../services/audit/time.js';

const now = new Date('2025-06-01T12:00:00.000Z');

describe('audit times', () => {
  for (const [text, expected] of [
    ['2025-06-01T10:00:00Z', '2025-06-01T10:00:00.000Z'],
    ['2025-06-01t10:00:00.250z', '2025-06-01T10:00:00.250Z'],
    ['2025-06-01 12:30:00+02:00', '2025-06-01T10:30:00.000Z'],
    ['now', '2025-06-01T12:00:00.000Z'],
    ['-30s', '2025-06-01T11:59:30.000Z'],
    ['-15m', '2025-06-01T11:45:00.000Z'],
    ['-2h', '2025-06-01T10:00:00.000Z'],
    ['-2d', '2025-05-30T12:00:00.000Z'],
    ['-1w', '2025-05-25T12:00:00.000Z'],
  ] as const) {
    it(`reads ${text}`, () => assert.equal(parseTime(text, now).toISOString(), expected));
  }

  for (const text of ['', 'yesterday', '2025-06-01', '2025-06-01T10:00:00', '2025-02-30T00:00:00Z', '2025-06-01T24:00:00Z', '15m', '-15', '-1y', '+5m']) {
    it(`refuses ${JSON.stringify(text)} in one line naming the accepted forms`, () => {
      assert.throws(() => parseTime(text, now), (err: Error) => err.message.includes('RFC 3339') && !err.message.includes('\n'));
    });
  }

  it('reads digits and #digits as sequences, anything else as a time', () => {
    assert.deepEqual(parsePoint('123', now), { seq: 123 });
    assert.deepEqual(parsePoint('#0', now), { seq: 0 });
    assert.deepEqual(parsePoint('-15m', now), { time: new Date('2025-06-01T11:45:00.000Z') });
    assert.throws(() => parsePoint('#-1', now), /invalid point "#-1": use a sequence \(123 or #123\) or a time/);
    assert.throws(() => parsePoint('99999999999999999999', now), /too large/);
  });
});

describe('replay progress', () => {
  it('says events done, rate and time left', () => {
    assert.equal(progressLine(500, 2000, 1000), '500/2000 events, 500 events/s, 3s left');
    assert.equal(progressLine(0, 2000, 0), '0/2000 events, 0 events/s, time left unknown');
    assert.equal(progressLine(1000, 361000, 1000), '1000/361000 events, 1000 events/s, 6m00s left');
    assert.equal(progressBar(15, 30), `[${'#'.repeat(15)}${'-'.repeat(15)}]`);
  });

  it('redraws one line on a terminal and writes plain lines every few seconds otherwise', () => {
    let t = 0;
    const plain: string[] = [];
    const p = progressReporter({ isTTY: false, write: (s) => plain.push(s) }, () => t);
    for (t = 0; t <= 12_000; t += 1000) p.update(t / 10, 2000);
    p.finish();
    assert.deepEqual(plain.map((l) => l.split(',')[0]), ['replay: 0/2000 events', 'replay: 500/2000 events', 'replay: 1000/2000 events', 'replay: 1200/2000 events']);
    assert.ok(plain.every((l) => l.endsWith('\n') && !l.includes('\r')));

    const tty: string[] = [];
    const bar = progressReporter({ isTTY: true, write: (s) => tty.push(s) }, () => t);
    bar.update(1, 2);
    bar.finish();
    assert.ok(tty[0]!.startsWith('\r[') && tty.at(-1) === '\n');
  });
});
