import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApiException } from '@kubernetes/client-node';
import { backoffDelay } from '../shared/backoff.js';
import { describeFailure, statusCodeOf } from '../services/agent/failure.js';
import { pickServiceImportVersion } from '../services/agent/sources.js';

describe('describeFailure', () => {
  const watchError = Object.assign(new Error('Gone'), { statusCode: 410 });
  const status = JSON.stringify({ kind: 'Status', code: 403, message: 'serviceimports is forbidden: User "x" cannot list' });
  const cases: [string, unknown, string, number | undefined][] = [
    ['a failed watch request', watchError, 'HTTP 410: Gone', 410],
    ['an ApiException with a Status body', new ApiException(403, 'Unknown API Status Code!', status, {}), 'HTTP 403: serviceimports is forbidden: User "x" cannot list', 403],
    ['an ApiException without body', new ApiException(401, 'Unauthorized', undefined, {}), 'HTTP 401', 401],
    ['an ApiException with a text body', new ApiException(502, 'x', 'bad gateway\nmore', {}), 'HTTP 502: bad gateway', 502],
    ['a network error, first line only', new Error('request to http://x failed, reason: connect ECONNREFUSED\nstack'), 'request to http://x failed, reason: connect ECONNREFUSED', undefined],
    ['a thrown string', 'boom', 'boom', undefined],
  ];
  for (const [title, err, line, code] of cases) {
    it(title, () => {
      assert.equal(describeFailure(err), line);
      assert.equal(statusCodeOf(err), code);
    });
  }
});

describe('backoffDelay', () => {
  const options = { initialMs: 200, maxMs: 30_000 };
  const cases: [number, number, number][] = [
    // attempt, random, delay
    [0, 0, 200],
    [0, 0.999999, 100],
    [1, 0, 400],
    [3, 0.5, 1200],
    [7, 0, 25_600],
    [8, 0, 30_000],
    [1000, 0, 30_000],
  ];
  for (const [attempt, random, delay] of cases) {
    it(`attempt ${attempt}, random ${random} → ${delay} ms`, () => assert.equal(backoffDelay(attempt, options, () => random), delay));
  }
});

describe('pickServiceImportVersion', () => {
  const group = (...versions: string[]) => ({ kind: 'APIGroup', name: 'multicluster.x-k8s.io', versions: versions.map((version) => ({ version })) });
  const cases: [string, unknown, string | undefined][] = [
    ['both served: v1beta1', group('v1alpha1', 'v1beta1'), 'v1beta1'],
    ['only v1alpha1', group('v1alpha1'), 'v1alpha1'],
    ['another version only', group('v2'), undefined],
    ['not an APIGroup', { kind: 'Status' }, undefined],
    ['nothing', undefined, undefined],
  ];
  for (const [title, doc, want] of cases) it(title, () => assert.equal(pickServiceImportVersion(doc), want));
});
