// The built binary: --help documents every flag; bad input is one line on
// stderr with a non-zero exit, never a stack trace.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveSettings } from '../services/cli/serve.js';

const main = join(process.cwd(), 'dist/services/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'mcsdns-cli-'));

function run(args: string[]) {
  const r = spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', timeout: 15000, env: { ...process.env, MCSDNS_LOG_LEVEL: 'silent' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('mcsdns command line', () => {
  it('documents every serve flag and its environment variable in --help', () => {
    const r = run(['serve', '--help']);
    assert.equal(r.code, 0);
    for (const s of serveSettings) {
      assert.ok(r.stdout.includes(`--${s.flag}`), `--${s.flag} missing from help`);
      assert.ok(r.stdout.includes(`MCSDNS_${s.flag.toUpperCase().replace(/-/g, '_')}`));
    }
    assert.match(r.stdout, /--config <file>/);
    assert.match(run(['--help']).stdout, /serve/);
  });

  const kubeconfig = join(dir, 'ok.kubeconfig');
  writeFileSync(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters: [{name: c, cluster: {server: "http://127.0.0.1:1", insecure-skip-tls-verify: true}}]',
      'users: [{name: u, user: {token: t}}]',
      'contexts: [{name: ctx, context: {cluster: c, user: u}}]',
      'current-context: ctx',
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'bad.kubeconfig'), 'clusters: [unclosed\n');

  const cases: { title: string; args: string[]; code: number; message: RegExp }[] = [
    { title: 'an unknown flag', args: ['serve', '--bogus'], code: 2, message: /unknown option '--bogus'/ },
    { title: 'an unknown command', args: ['bogus'], code: 2, message: /unknown command 'bogus'/ },
    { title: 'no cluster', args: ['serve'], code: 2, message: /--cluster is required/ },
    { title: 'a bad cluster id', args: ['serve', '--cluster', `East_1=${kubeconfig}`], code: 2, message: /East_1/ },
    { title: 'a cluster without a kubeconfig', args: ['serve', '--cluster', 'east'], code: 2, message: /--cluster/ },
    { title: 'a missing kubeconfig file', args: ['serve', '--cluster', `east=${join(dir, 'missing.kubeconfig')}`], code: 1, message: /missing\.kubeconfig/ },
    { title: 'an unparsable kubeconfig', args: ['serve', '--cluster', `east=${join(dir, 'bad.kubeconfig')}`], code: 1, message: /bad\.kubeconfig/ },
    { title: 'an unknown context', args: ['serve', '--cluster', `east=${kubeconfig}@nope`], code: 1, message: /nope/ },
    { title: 'the same cluster twice', args: ['serve', '--cluster', `east=${kubeconfig}`, '--cluster', `east=${kubeconfig}`], code: 2, message: /cluster id east is given twice/ },
    { title: 'a TTL out of range', args: ['serve', '--cluster', `east=${kubeconfig}`, '--ttl', '9999'], code: 2, message: /--ttl: expected a whole number from 0 to 3600/ },
    { title: 'a bad listen address', args: ['serve', '--cluster', `east=${kubeconfig}`, '--dns-listen', 'nowhere'], code: 2, message: /--dns-listen/ },
  ];
  for (const c of cases) {
    it(`rejects ${c.title} with one line`, () => {
      const r = run(c.args);
      assert.equal(r.code, c.code, r.stderr);
      const lines = r.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('(run with --help'));
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, /^mcsdns: /);
      assert.match(lines[0]!, c.message);
      assert.doesNotMatch(r.stderr, /\n\s+at /); // no stack trace
    });
  }
});
