// The built binary: --help documents every flag; bad input is one line on
// stderr with a non-zero exit, never a stack trace.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  agentSettings,
  aggregatorSettings,
  auditResolveSettings,
  diffSettings,
  frontendSettings,
  historySettings,
  replaySettings,
  serveSettings,
} from '../services/cli/commandSettings.js';
import type { Setting } from '../services/cli/settings.js';

const main = join(process.cwd(), 'dist/bin/mcsdns.js');
const dir = mkdtempSync(join(tmpdir(), 'mcsdns-cli-'));

function run(args: string[]) {
  const r = spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', timeout: 15000, env: { ...process.env, MCSDNS_LOG_LEVEL: 'silent' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('mcsdns command line', () => {
  const commands: [string, Setting[]][] = [
    ['serve', serveSettings],
    ['agent', agentSettings],
    ['aggregator', aggregatorSettings],
    ['frontend', frontendSettings],
    ['replay', replaySettings],
    ['audit resolve', auditResolveSettings],
    ['audit history', historySettings],
    ['audit diff', diffSettings],
  ];
  for (const [name, settings] of commands) {
    it(`documents every ${name} flag and its environment variable in --help`, () => {
      const r = run([...name.split(' '), '--help']);
      assert.equal(r.code, 0);
      for (const s of settings) {
        assert.ok(r.stdout.includes(`--${s.flag}`), `--${s.flag} missing from help`);
        assert.ok(r.stdout.includes(`MCSDNS_${s.flag.toUpperCase().replace(/-/g, '_')}`));
      }
      assert.match(r.stdout, /--config <file>/);
      assert.match(run(name.startsWith('audit ') ? ['audit', '--help'] : ['--help']).stdout, new RegExp(`\\b${name.replace('audit ', '')}\\b`));
    });
  }

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
    { title: '--prefer-own-cluster without a view', args: ['frontend', '--nats', 'nats://127.0.0.1:4222', '--prefer-own-cluster'], code: 2, message: /--prefer-own-cluster needs --view: it orders the answers of a view's clients/ },
    { title: 'a bad listen address', args: ['serve', '--cluster', `east=${kubeconfig}`, '--dns-listen', 'nowhere'], code: 2, message: /--dns-listen/ },
    { title: 'an agent without NATS', args: ['agent', '--cluster-id', 'east', '--kubeconfig', kubeconfig], code: 2, message: /--nats is required/ },
    { title: 'an agent without a kubeconfig', args: ['agent', '--cluster-id', 'east', '--nats', 'nats://127.0.0.1:4222'], code: 2, message: /--kubeconfig or --in-cluster is required/ },
    { title: 'an agent with a bad cluster id', args: ['agent', '--cluster-id', 'East', '--kubeconfig', kubeconfig, '--nats', 'nats://127.0.0.1:4222'], code: 2, message: /"East" is not an RFC 1123 label/ },
    { title: 'a bad NATS URL', args: ['frontend', '--nats', 'http://x/y'], code: 2, message: /is not a NATS URL/ },
    { title: 'a TLS cert without its key', args: ['frontend', '--nats', 'nats://127.0.0.1:4222', '--nats-tls-cert', '/x.pem'], code: 2, message: /--nats-tls-cert and --nats-tls-key go together/ },
    { title: 'an unreadable NATS credentials file', args: ['frontend', '--nats', 'nats://127.0.0.1:4222', '--nats-creds', join(dir, 'none.creds')], code: 1, message: /none\.creds/ },
    { title: 'an audit without a log', args: ['audit', 'resolve', 'web.prod.svc.clusterset.local'], code: 2, message: /give the event log: --data-dir DIR \(embedded\) or --nats URL/ },
    { title: 'an audit of a missing log', args: ['audit', 'diff', '--from', '1', '--to', 'now', '--data-dir', join(dir, 'nothing')], code: 2, message: /no event log at .*nothing\/events\.db/ },
    { title: 'a replay without --to', args: ['replay', '--db', join(dir, 'r.db'), '--data-dir', dir], code: 2, message: /--to is required/ },
    { title: 'an aggregator without --db', args: ['aggregator', '--nats', 'nats://127.0.0.1:4222'], code: 2, message: /--db is required/ },
    { title: 'a bad duration', args: ['aggregator', '--nats', 'nats://127.0.0.1:4222', '--db', join(dir, 'x.db'), '--event-retention', 'forever'], code: 2, message: /--event-retention: expected a duration/ },
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
