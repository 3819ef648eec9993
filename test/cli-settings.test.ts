import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import {
  defineSettings,
  parseInteger,
  parseListenAddress,
  parseZone,
  resolveSettings,
  UsageError,
  type Setting,
} from '../services/cli/settings.js';

const settings: Setting[] = [
  { flag: 'zone', arg: 'zone', describe: 'zone', repeatable: true, parse: parseZone, default: ['clusterset.local'] },
  { flag: 'ttl', arg: 'seconds', describe: 'ttl', parse: parseInteger(0, 3600), default: 5 },
  { flag: 'dns-listen', arg: 'host:port', describe: 'listen', parse: parseListenAddress },
  { flag: 'no-endpoints', describe: 'switch', default: false },
  { flag: 'name', arg: 'name', describe: 'required', required: true },
];

function resolve(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const cmd = defineSettings(new Command('serve').exitOverride(), settings);
  cmd.parse(argv, { from: 'user' });
  return resolveSettings(cmd, settings, env);
}

const dir = mkdtempSync(join(tmpdir(), 'mcsdns-settings-'));
function configFile(text: string): string {
  const p = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(p, text);
  return p;
}

describe('settings: flags, environment, config file', () => {
  it('takes defaults, then config, then environment, then flags', () => {
    const cfg = configFile('ttl: 30\nzone: [a.example, b.example]\nname: from-config\ndns-listen: "127.0.0.1:53"\n');
    assert.deepEqual(resolve(['--config', cfg]), {
      zone: ['a.example', 'b.example'],
      ttl: 30,
      dnsListen: { host: '127.0.0.1', port: 53 },
      noEndpoints: false,
      name: 'from-config',
    });
    const env = { MCSDNS_TTL: '40', MCSDNS_ZONE: 'c.example, d.example', MCSDNS_NO_ENDPOINTS: 'true' };
    const got = resolve(['--config', cfg, '--ttl', '50'], env);
    assert.equal(got.ttl, 50);
    assert.deepEqual(got.zone, ['c.example', 'd.example']);
    assert.equal(got.noEndpoints, true);
    assert.deepEqual(resolve(['--name', 'x', '--zone', 'One.Example.', '--zone', 'two.example', '--no-endpoints']), {
      zone: ['one.example', 'two.example'],
      ttl: 5,
      dnsListen: undefined,
      noEndpoints: true,
      name: 'x',
    });
  });

  it('reads the config file named by MCSDNS_CONFIG, with a per-command section', () => {
    const cfg = configFile('ttl: 30\nname: top\nserve:\n  ttl: 60\n');
    const got = resolve([], { MCSDNS_CONFIG: cfg });
    assert.equal(got.ttl, 60);
    assert.equal(got.name, 'top');
  });

  const errors: { title: string; argv: string[]; env?: NodeJS.ProcessEnv; message: RegExp }[] = [
    { title: 'ttl out of range', argv: ['--name', 'x', '--ttl', '4000'], message: /--ttl: expected a whole number from 0 to 3600, got 4000/ },
    { title: 'ttl not a number', argv: ['--name', 'x', '--ttl', '5s'], message: /--ttl: expected a whole number/ },
    { title: 'bad env value', argv: ['--name', 'x'], env: { MCSDNS_TTL: '-1' }, message: /MCSDNS_TTL: expected a whole number/ },
    { title: 'bad switch in env', argv: ['--name', 'x'], env: { MCSDNS_NO_ENDPOINTS: 'maybe' }, message: /MCSDNS_NO_ENDPOINTS: expected true or false/ },
    { title: 'bad listen address', argv: ['--name', 'x', '--dns-listen', 'localhost'], message: /--dns-listen: expected HOST:PORT/ },
    { title: 'port out of range', argv: ['--name', 'x', '--dns-listen', '127.0.0.1:70000'], message: /port 70000 is out of range/ },
    { title: 'bad zone', argv: ['--name', 'x', '--zone', 'a..b'], message: /"a..b" is not a valid zone name/ },
    { title: 'missing required', argv: [], message: /--name is required \(or MCSDNS_NAME, or "name" in --config\)/ },
    { title: 'missing config file', argv: ['--config', '/nonexistent/mcsdns.yaml'], message: /cannot read config file \/nonexistent\/mcsdns.yaml: ENOENT/ },
  ];
  for (const c of errors) {
    it(`rejects ${c.title} with one clear line`, () => {
      assert.throws(
        () => resolve(c.argv, c.env),
        (err: Error) => err instanceof UsageError && c.message.test(err.message) && !err.message.includes('\n'),
      );
    });
  }

  it('rejects a switch without the setting it needs, from any source', () => {
    const own: Setting[] = [...settings, { flag: 'reuse-port', describe: 'switch', default: false, needs: { flag: 'dns-listen', why: 'it is about listening' } }];
    const resolveOwn = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
      const cmd = defineSettings(new Command('serve').exitOverride(), own);
      cmd.parse(argv, { from: 'user' });
      return resolveSettings(cmd, own, env);
    };
    assert.throws(() => resolveOwn(['--name', 'x', '--reuse-port']), (err: Error) => err instanceof UsageError && err.message === '--reuse-port needs --dns-listen: it is about listening');
    assert.throws(() => resolveOwn(['--name', 'x'], { MCSDNS_REUSE_PORT: 'true' }), /--reuse-port needs --dns-listen/);
    assert.equal(resolveOwn(['--name', 'x', '--reuse-port', '--dns-listen', '127.0.0.1:53']).reusePort, true);
  });

  it('rejects unknown keys, lists for single values and invalid YAML in the config file', () => {
    assert.throws(() => resolve(['--config', configFile('name: x\nttll: 5\n')]), /unknown setting "ttll" for mcsdns serve/);
    assert.throws(() => resolve(['--config', configFile('name: x\nttl: [1, 2]\n')]), /ttl: expected one value, got a list/);
    assert.throws(() => resolve(['--config', configFile('name: [x\n')]), /is not valid YAML/);
    assert.throws(() => resolve(['--config', configFile('- just\n- a list\n')]), /must hold a mapping of settings/);
  });

  it('parses listen addresses of every form', () => {
    assert.deepEqual(parseListenAddress('[::1]:53'), { host: '::1', port: 53 });
    assert.deepEqual(parseListenAddress(':5353'), { host: '0.0.0.0', port: 5353 });
    assert.deepEqual(parseListenAddress('0.0.0.0:0'), { host: '0.0.0.0', port: 0 });
  });
});

describe('settings: a switch with optional values (fallthrough [ZONES…])', () => {
  const onOff: Setting[] = [{ flag: 'fallthrough', arg: 'zone', describe: 'ft', repeatable: true, optionalValues: true, parse: parseZone }];
  const get = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
    const cmd = defineSettings(new Command('serve').exitOverride(), onOff);
    cmd.parse(argv, { from: 'user' });
    return resolveSettings(cmd, onOff, env).fallthrough;
  };
  const cases: { title: string; argv: string[]; env?: NodeJS.ProcessEnv; want: string[] | undefined }[] = [
    { title: 'absent: off', argv: [], want: undefined },
    { title: 'alone: every zone', argv: ['--fallthrough'], want: [] },
    { title: 'with zones', argv: ['--fallthrough', 'A.example.', 'b.example'], want: ['a.example', 'b.example'] },
    { title: 'repeated', argv: ['--fallthrough', 'a.example', '--fallthrough', 'b.example'], want: ['a.example', 'b.example'] },
    { title: 'env true', argv: [], env: { MCSDNS_FALLTHROUGH: 'true' }, want: [] },
    { title: 'env false', argv: [], env: { MCSDNS_FALLTHROUGH: 'false' }, want: undefined },
    { title: 'env list', argv: [], env: { MCSDNS_FALLTHROUGH: 'a.example, b.example' }, want: ['a.example', 'b.example'] },
    { title: 'config true', argv: ['--config', configFile('fallthrough: true\n')], want: [] },
    { title: 'config list', argv: ['--config', configFile('fallthrough: [a.example]\n')], want: ['a.example'] },
    { title: 'flag over env', argv: ['--fallthrough'], env: { MCSDNS_FALLTHROUGH: 'a.example' }, want: [] },
  ];
  for (const c of cases) {
    it(c.title, () => assert.deepEqual(get(c.argv, c.env), c.want));
  }
  it('rejects a bad zone among the values', () => {
    assert.throws(() => get(['--fallthrough', 'a..b']), /--fallthrough: "a..b" is not a valid zone name/);
    assert.throws(() => get(['--config', configFile('fallthrough: {a: 1}\n')]), /expected true, false or a list/);
  });
});

describe('settings: views and networks', () => {
  it('parses CLUSTER=CIDR[,CIDR…] and rejects bad ones with one line', async () => {
    const { parseViewSpec } = await import('../services/cli/commonSettings.js');
    assert.deepEqual(parseViewSpec('east=127.0.0.2,10.0.0.0/8,fd00::/8'), { cluster: 'east', networks: ['127.0.0.2/32', '10.0.0.0/8', 'fd00::/8'] });
    assert.throws(() => parseViewSpec('East=10.0.0.0/8'), /expected CLUSTER=CIDR/);
    assert.throws(() => parseViewSpec('=10.0.0.0/8'), /expected CLUSTER=CIDR/);
    assert.throws(() => parseViewSpec('east=10.0.0.0/33'), /"10.0.0.0\/33" is not a network/);
    assert.throws(() => parseViewSpec('east=nowhere'), /"nowhere" is not a network/);
  });
});
