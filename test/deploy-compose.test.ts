// docker-compose.yml is valid (checked by docker-compose itself, which needs
// no engine for `config`) and passes only flags the CLI has.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { parse } from 'yaml';
import { agentSettings, aggregatorSettings, frontendSettings, serveSettings } from '../services/cli/commandSettings.js';
import type { Setting } from '../services/cli/settings.js';

function composeMissing(): string | undefined {
  const r = spawnSync('docker-compose', ['version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    const why = 'docker-compose is not on PATH (Debian package docker-compose)';
    if (process.env.CI === 'true') throw new Error(`${why}: required under CI=true`);
    return why;
  }
  return undefined;
}

const flagsOf: Record<string, Setting[]> = { serve: serveSettings, agent: agentSettings, aggregator: aggregatorSettings, frontend: frontendSettings };
const env = {
  ...process.env,
  MCSDNS_AGGREGATOR_PASSWORD: 'a',
  MCSDNS_FRONTEND_PASSWORD: 'f',
  MCSDNS_AGENT_EAST_PASSWORD: 'e',
  MCSDNS_AGENT_WEST_PASSWORD: 'w',
};

describe('docker-compose.yml', { skip: composeMissing() }, () => {
  const r = spawnSync('docker-compose', ['-f', 'docker-compose.yml', 'config'], { encoding: 'utf8', env });

  it('is accepted by docker-compose config', () => {
    assert.equal(r.status, 0, r.stderr);
  });

  it('runs NATS, an aggregator, two frontends and an agent per cluster, with flags the CLI has', () => {
    const doc = parse(r.stdout) as { services: Record<string, { command?: string[]; image?: string }> };
    const roles: string[] = [];
    for (const [name, svc] of Object.entries(doc.services)) {
      if (svc.image !== 'mcsdns:latest') continue;
      const [role, ...args] = svc.command ?? [];
      assert.ok(role && flagsOf[role], `${name}: unknown command ${role}`);
      roles.push(role);
      const known = new Set(['config', ...flagsOf[role]!.map((s) => s.flag)]);
      for (const arg of args) {
        const flag = /^--([a-z-]+)(=|$)/.exec(arg)?.[1];
        assert.ok(flag && known.has(flag), `${name}: ${arg} is not a flag of mcsdns ${role}`);
      }
    }
    assert.deepEqual(roles.sort(), ['agent', 'agent', 'aggregator', 'frontend', 'frontend']);
    assert.ok(doc.services.nats, 'a nats service');
  });

  it('refuses to start without the passwords', () => {
    const bare = spawnSync('docker-compose', ['-f', 'docker-compose.yml', 'config'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH },
    });
    assert.notEqual(bare.status, 0);
    assert.match(bare.stderr, /set it in \.env/);
  });
});
