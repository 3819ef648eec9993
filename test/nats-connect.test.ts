// connectNats against real nats-server processes: each authentication
// method, TLS with client certificates, retries and reconnects with what
// they log.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { nkeys, type NatsConnection, type Status } from '@nats-io/transport-node';
import { pino } from 'pino';
import { connectNats, describeStatus, type NatsOptions } from '../shared/nats.js';
import { NatsServer, natsServerMissing } from './support/natsServer.js';

const missing = natsServerMissing();

interface LogLine {
  level: number;
  msg: string;
  err?: string;
  [field: string]: unknown;
}

function capturingLogger() {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
  const count = (msg: string, err?: RegExp) => lines.filter((l) => l.msg === msg && (!err || err.test(String(l.err)))).length;
  async function until(msg: string, err?: RegExp, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (count(msg, err) === 0) {
      if (Date.now() > deadline) assert.fail(`no log line "${msg}" in ${lines.map((l) => `${l.msg} ${l.err ?? ''}`).join(' / ')}`);
      await sleep(20);
    }
  }
  return { lines, logger, count, until };
}

// Bounds a connection attempt that should succeed, so a failure fails the test instead of hanging it.
const soon = (ms = 15_000) => AbortSignal.timeout(ms);

// A request/reply round trip proves the connection authenticated and works.
async function roundTrip(nc: NatsConnection): Promise<void> {
  const sub = nc.subscribe('echo', { callback: (_err, m) => void m.respond(m.data) });
  const reply = await nc.request('echo', 'ping', { timeout: 2000 });
  assert.equal(reply.string(), 'ping');
  sub.unsubscribe();
}

describe('connectNats option checks', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mcsdns-natsopts-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const servers = ['nats://127.0.0.1:4222'];
  const cases: [string, NatsOptions, RegExp][] = [
    ['no server', { servers: [] }, /^no NATS server given$/],
    ['a URL of another scheme', { servers: ['http://x:1'] }, /^NATS server "http:\/\/x:1" is not nats:\/\/host:port/],
    ['a token and a user', { servers, token: 't', user: 'u', password: 'p' }, /^NATS authentication: give one of token, user\/password, not several$/],
    ['a creds file and an NKey seed', { servers, credsFile: 'a', nkeySeedFile: 'b' }, /give one of creds file, NKey seed file, not several/],
    ['a password without user', { servers, password: 'p' }, /^NATS user and password go together$/],
    ['a missing creds file', { servers, credsFile: join(dir, 'nope.creds') }, /^cannot read NATS creds file \S+nope\.creds: ENOENT: no such file or directory$/],
    ['a missing seed file', { servers, nkeySeedFile: join(dir, 'nope.nk') }, /^cannot read NATS NKey seed file \S+nope\.nk: ENOENT/],
    ['a missing CA file', { servers, tls: { caFile: join(dir, 'ca.pem') } }, /^cannot read NATS TLS CA file \S+ca\.pem: ENOENT/],
    ['a directory as key file', { servers, tls: { certFile: dir, keyFile: dir } }, /^cannot read NATS TLS certificate file \S+: EISDIR/],
    ['a certificate without key', { servers, tls: { certFile: 'c.pem' } }, /certificate file and its key file go together/],
  ];
  for (const [what, opts, message] of cases) {
    it(`fails at once in one line for ${what}`, async () => {
      await assert.rejects(connectNats(opts, pino({ level: 'silent' })), (err: Error) => {
        assert.match(err.message, message);
        assert.doesNotMatch(err.message, /\n/);
        return true;
      });
    });
  }

  it('names a creds or seed file whose content is not usable', async () => {
    const creds = join(dir, 'bad.creds');
    writeFileSync(creds, 'not a creds file\n');
    await assert.rejects(connectNats({ servers, credsFile: creds }, pino({ level: 'silent' })), {
      message: /^NATS creds file \S+bad\.creds is not usable: unable to parse credentials$/,
    });
    const seed = join(dir, 'account.nk');
    writeFileSync(seed, new TextDecoder().decode(nkeys.createAccount().getSeed()));
    await assert.rejects(connectNats({ servers, nkeySeedFile: seed }, pino({ level: 'silent' })), {
      message: /^NATS NKey seed file \S+account\.nk is not usable: not a user seed/,
    });
  });
});

describe('describeStatus', () => {
  const table: [Status, string | undefined, string | undefined][] = [
    [{ type: 'disconnect', server: '127.0.0.1:4222' }, 'warn', 'NATS connection lost'],
    [{ type: 'reconnecting' }, 'info', 'reconnecting to NATS'],
    [{ type: 'reconnect', server: '127.0.0.1:4222' }, 'info', 'reconnected to NATS'],
    [{ type: 'error', error: new Error("'Authorization Violation'") }, 'warn', 'NATS server reported an error'],
    [{ type: 'ldm', server: 'x' }, 'warn', 'NATS server is shutting down (lame duck mode)'],
    [{ type: 'staleConnection' }, 'warn', 'NATS connection is stale (no answer to pings)'],
    [{ type: 'ping', pendingPings: 1 }, undefined, undefined],
  ];
  for (const [status, level, msg] of table) {
    it(`${status.type} → ${msg ?? 'nothing'}`, () => {
      const line = describeStatus(status);
      assert.equal(line?.level, level);
      assert.equal(line?.msg, msg);
    });
  }
});

describe('connectNats with a server', { skip: missing }, () => {
  it('authenticates with a token', async () => {
    const server = await NatsServer.start({ config: 'authorization { token: "s3cr3t-token" }' });
    try {
      const nc = await connectNats({ servers: [server.url], token: 's3cr3t-token', name: 'token-test', signal: soon() }, pino({ level: 'silent' }));
      await roundTrip(nc);
      await nc.close();
    } finally {
      await server.stop();
    }
  });

  it('authenticates with an NKey seed file', async () => {
    const user = nkeys.createUser();
    const server = await NatsServer.start({ config: `authorization { users: [ { nkey: ${user.getPublicKey()} } ] }` });
    const dir = mkdtempSync(join(tmpdir(), 'mcsdns-nkey-'));
    try {
      const seedFile = join(dir, 'agent.nk');
      writeFileSync(seedFile, `${new TextDecoder().decode(user.getSeed())}\n`);
      const nc = await connectNats({ servers: [server.url], nkeySeedFile: seedFile, signal: soon() }, pino({ level: 'silent' }));
      await roundTrip(nc);
      await nc.close();
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('user and password', () => {
    // The server reads the password from the environment each time it starts, so a test can change it.
    const PASSWORD_VAR = 'MCSDNS_TEST_NATS_PASSWORD';
    let server: NatsServer;
    const restartWithPassword = async (password: string) => {
      await server.halt();
      process.env[PASSWORD_VAR] = password;
      await server.run();
    };
    before(async () => {
      process.env[PASSWORD_VAR] = 'right';
      server = await NatsServer.start({ config: `authorization { users: [ { user: agent, password: $${PASSWORD_VAR} } ] }` });
    });
    after(async () => {
      await server?.stop();
      delete process.env[PASSWORD_VAR];
    });

    it('connects with the right password', async () => {
      const nc = await connectNats({ servers: [server.url], user: 'agent', password: 'right', signal: soon() }, pino({ level: 'silent' }));
      await roundTrip(nc);
      await nc.close();
    });

    it('keeps retrying a rejected password, warning once, until the server accepts it', async () => {
      const log = capturingLogger();
      const connecting = connectNats({ servers: [server.url], user: 'agent', password: 'new', signal: soon(30_000) }, log.logger);
      let settled = false;
      void connecting.finally(() => (settled = true)).catch(() => undefined);
      await log.until('cannot connect to NATS yet; retrying', /Authorization Violation/i);
      await sleep(2600); // at least two more attempts
      assert.equal(settled, false, 'still trying');
      assert.equal(log.count('cannot connect to NATS yet; retrying'), 1, 'warned once for the same reason');

      await restartWithPassword('new');
      const nc = await connecting;
      await roundTrip(nc);
      await log.until('connected to NATS');

      // The password is rejected again on reconnect: logged once, the client keeps trying.
      await restartWithPassword('right');
      await log.until('NATS server reported an error', /Authorization Violation/i);
      await sleep(2600);
      assert.equal(nc.isClosed(), false, 'the client did not give up');
      assert.equal(log.count('NATS server reported an error', /Authorization Violation/i), 1);
      assert.equal(log.count('NATS connection lost'), 1);

      await restartWithPassword('new');
      await log.until('reconnected to NATS');
      await roundTrip(nc);
      await nc.close();
      await restartWithPassword('right');
    });
  });

  it('reconnects after the server stops and starts again, keeping subscriptions', async () => {
    const server = await NatsServer.start();
    const log = capturingLogger();
    try {
      const nc = await connectNats({ servers: [server.url], signal: soon() }, log.logger);
      const received: string[] = [];
      nc.subscribe('news', { callback: (_err, m) => void received.push(m.string()) });
      await nc.flush();
      await server.halt();
      await log.until('NATS connection lost');
      await server.run();
      await log.until('reconnected to NATS');
      assert.equal(log.count('reconnecting to NATS'), 1, 'attempts while the server was away are logged once');
      nc.publish('news', 'after the restart');
      await nc.flush();
      await sleep(50);
      assert.deepEqual(received, ['after the restart']);
      await nc.close();
    } finally {
      await server.stop();
    }
  });

  it('gives up waiting for a first connection when its signal aborts', async () => {
    const server = await NatsServer.start();
    const url = server.url;
    await server.stop(); // nothing listens there now
    const log = capturingLogger();
    const controller = new AbortController();
    const connecting = connectNats({ servers: [url], signal: controller.signal }, log.logger);
    await log.until('cannot connect to NATS yet; retrying');
    controller.abort();
    await assert.rejects(connecting, { name: 'AbortError' });
  });

  describe('TLS with client certificates', () => {
    const openssl = spawnSync('openssl', ['version']);
    const opensslMissing = openssl.error || openssl.status !== 0 ? 'openssl is not on PATH' : undefined;
    if (opensslMissing && process.env.CI === 'true') throw new Error(`${opensslMissing}: required under CI=true`);
    let dir: string;
    let server: NatsServer;

    before(async () => {
      if (opensslMissing) return;
      dir = mkdtempSync(join(tmpdir(), 'mcsdns-tls-'));
      makeCertificates(dir);
      const file = (name: string) => JSON.stringify(join(dir, name));
      server = await NatsServer.start({
        config: `tls { cert_file: ${file('server.pem')}, key_file: ${file('server-key.pem')}, ca_file: ${file('ca.pem')}, verify: true }`,
      });
    });
    after(async () => {
      await server?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('connects with the CA and a client certificate', { skip: opensslMissing }, async () => {
      const nc = await connectNats(
        {
          servers: [server.url.replace('nats://', 'tls://')],
          signal: soon(),
          tls: { caFile: join(dir, 'ca.pem'), certFile: join(dir, 'client.pem'), keyFile: join(dir, 'client-key.pem') },
        },
        pino({ level: 'silent' }),
      );
      assert.equal(nc.info?.tls_verify, true);
      await roundTrip(nc);
      await nc.close();
    });

    it('is refused without a client certificate', { skip: opensslMissing }, async () => {
      const log = capturingLogger();
      const controller = new AbortController();
      const connecting = connectNats({ servers: [server.url], tls: { caFile: join(dir, 'ca.pem') }, signal: controller.signal }, log.logger);
      await log.until('cannot connect to NATS yet; retrying');
      await sleep(1200); // into the next attempt, which waits for a handshake that never completes
      const aborted = Date.now();
      controller.abort();
      await assert.rejects(connecting, { name: 'AbortError' });
      assert.ok(Date.now() - aborted < 500, 'an attempt under way is abandoned at once');
    });
  });
});

// A CA, a server certificate and a client certificate, with the openssl CLI.
// Node checks a server reached by IP address under the name "localhost".
function makeCertificates(dir: string): void {
  const run = (...args: string[]) => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  };
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run('req', '-x509', ...newKey, '-keyout', 'ca-key.pem', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=mcsdns test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  for (const [name, extensions] of [
    ['server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n'],
    ['client', 'extendedKeyUsage=clientAuth\n'],
  ] as const) {
    writeFileSync(join(dir, `${name}.ext`), extensions);
    run('req', ...newKey, '-keyout', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', `/CN=mcsdns test ${name}`);
    run('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
  }
}
