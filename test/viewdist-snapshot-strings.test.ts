// The string table of a view snapshot (shared/viewSnapshot.ts) is read as
// the strings are first referred to, not up front: the head is read without
// it, and a table whose lengths do not add up still makes no view.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DnsView } from '../shared/view.js';
import { MalformedView, readView, readViewHead, writeView } from '../shared/viewSnapshot.js';
import { sampleView } from './viewdist-support.js';

const view: DnsView = sampleView(50, 77);

// An unsigned LEB128 number at `at`: its value and where it ends.
function uintAt(data: Buffer, at: number): { value: number; end: number } {
  let value = 0;
  for (let scale = 1; ; scale *= 128, at++) {
    value += (data[at]! & 127) * scale;
    if (data[at]! < 128) return { value, end: at + 1 };
  }
}

// Where the last string's length is: after "MCSV", the format, the text and the count.
function lastLengthAt(data: Buffer): number {
  const text = uintAt(data, 5);
  const count = uintAt(data, text.end + text.value);
  let at = count.end;
  for (let n = 1; n < count.value; n++) at = uintAt(data, at).end;
  return at;
}

describe('view snapshot strings, read as referred to', () => {
  for (const [change, why] of [
    [+1, /the string lengths exceed the strings/],
    [-1, /the strings are longer than their lengths/],
  ] as const) {
    it(`a last string ${change > 0 ? 'longer' : 'shorter'} than the text left: the head reads, the view is refused`, () => {
      const data = writeView(view);
      const at = lastLengthAt(data);
      assert.ok(data[at]! > 1 && data[at]! < 127, 'a one-octet length to change');
      data[at]! += change;
      assert.deepEqual(readViewHead(data), { version: view.version, clusters: view.clusters, namespaces: view.namespaces });
      assert.throws(() => readView(data), (err: Error) => err instanceof MalformedView && why.test(err.message));
    });
  }

  it('a table with fewer lengths than strings counted is refused at once', () => {
    const data = writeView(view);
    const cut = data.subarray(0, lastLengthAt(data) - 2);
    assert.throws(() => readViewHead(cut), MalformedView);
  });
});
