// The NATS connection every distributed command uses: credentials and TLS
// files read (and checked) up front, reconnects forever, and every change of
// the connection's state logged once with its reason.
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  connect,
  credsAuthenticator,
  nkeyAuthenticator,
  nkeys,
  type NatsConnection,
  type NodeConnectionOptions,
  type Status,
} from '@nats-io/transport-node';
import type { Logger } from './logger.js';

export interface NatsOptions {
  servers: string[]; // nats://host:port, tls://host:port (TLS required) or host:port
  user?: string;
  password?: string;
  token?: string;
  credsFile?: string; // a .creds file (JWT + NKey seed)
  nkeySeedFile?: string; // a file holding an NKey user seed (SU...)
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  name?: string; // connection name shown by the server, e.g. "mcsdns-agent-east"
  signal?: AbortSignal; // gives up waiting for the first connection
}

const RECONNECT_WAIT_MS = 1000;
const RECONNECT_JITTER_MS = 500;
const RECONNECT_JITTER_TLS_MS = 1000;

// Connects, retrying until the first connection succeeds (or opts.signal
// aborts), then keeps reconnecting forever. Unreadable files and
// contradicting options fail at once with one line.
export async function connectNats(opts: NatsOptions, logger: Logger): Promise<NatsConnection> {
  const options = await connectionOptions(opts);
  const nc = await firstConnection(options, logger, opts.signal);
  logger.info({ server: nc.getServer(), name: opts.name }, 'connected to NATS');
  void logStatusChanges(nc, logger);
  return nc;
}

// Builds the client options; reads and checks every file named in opts.
async function connectionOptions(opts: NatsOptions): Promise<NodeConnectionOptions> {
  checkServers(opts.servers);
  checkAuth(opts);
  const options: NodeConnectionOptions = {
    servers: opts.servers,
    maxReconnectAttempts: -1,
    reconnectTimeWait: RECONNECT_WAIT_MS,
    reconnectJitter: RECONNECT_JITTER_MS,
    reconnectJitterTLS: RECONNECT_JITTER_TLS_MS,
    // A rejected password stays a logged, retried condition (it may be fixed on the server), never a closed client.
    ignoreAuthErrorAbort: true,
    pingInterval: 20_000,
    // Else every request (each JetStream publish) captures two stack traces up front: nearly a tenth of an agent's sync.
    noAsyncTraces: true,
    timeout: 5000, // per attempt: a first connection's failure shows up in the log soon
  };
  if (opts.name !== undefined) options.name = opts.name;
  if (opts.token !== undefined) options.token = opts.token;
  if (opts.user !== undefined) {
    options.user = opts.user;
    options.pass = opts.password;
  }
  if (opts.credsFile !== undefined) {
    const creds = await readNamedFile('creds file', opts.credsFile);
    const authenticator = credsAuthenticator(creds);
    checkContent('creds file', opts.credsFile, () => authenticator());
    options.authenticator = authenticator;
  }
  if (opts.nkeySeedFile !== undefined) {
    const seed = new TextEncoder().encode((await readNamedFile('NKey seed file', opts.nkeySeedFile)).toString('utf8').trim());
    checkContent('NKey seed file', opts.nkeySeedFile, () => {
      if (nkeys.fromSeed(seed).getPublicKey()[0] !== 'U') throw new Error('not a user seed (SU…)');
    });
    options.authenticator = nkeyAuthenticator(seed);
  }
  const tls = opts.tls ?? {};
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) {
    throw new Error('NATS TLS: a client certificate file and its key file go together');
  }
  if (opts.tls !== undefined || opts.servers.some((s) => s.startsWith('tls://'))) {
    options.tls = {};
    if (tls.caFile !== undefined) options.tls.ca = (await readNamedFile('TLS CA file', tls.caFile)).toString('utf8');
    if (tls.certFile !== undefined) options.tls.cert = (await readNamedFile('TLS certificate file', tls.certFile)).toString('utf8');
    if (tls.keyFile !== undefined) options.tls.key = (await readNamedFile('TLS key file', tls.keyFile)).toString('utf8');
  }
  return options;
}

function checkServers(servers: string[]): void {
  if (servers.length === 0) throw new Error('no NATS server given');
  for (const s of servers) {
    if (!/^(nats|tls):\/\/[^\s/]+$|^[^\s/:]+:\d+$/.test(s)) {
      throw new Error(`NATS server ${JSON.stringify(s)} is not nats://host:port, tls://host:port or host:port`);
    }
  }
}

function checkAuth(opts: NatsOptions): void {
  if ((opts.user === undefined) !== (opts.password === undefined)) {
    throw new Error('NATS user and password go together');
  }
  const methods = [
    opts.token !== undefined && 'token',
    opts.user !== undefined && 'user/password',
    opts.credsFile !== undefined && 'creds file',
    opts.nkeySeedFile !== undefined && 'NKey seed file',
  ].filter((m): m is string => m !== false);
  if (methods.length > 1) throw new Error(`NATS authentication: give one of ${methods.join(', ')}, not several`);
}

async function readNamedFile(what: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const why = (err as Error).message.split(',')[0] ?? String(err);
    throw new Error(`cannot read NATS ${what} ${path}: ${why}`);
  }
}

function checkContent(what: string, path: string, check: () => unknown): void {
  try {
    check();
  } catch (err) {
    throw new Error(`NATS ${what} ${path} is not usable: ${(err as Error).message}`);
  }
}

// The client gives up on a first connection after one round over the
// servers; this loop retries it (waitOnFirstConnect would too, but silently:
// no status is visible before the first connection), logging each new reason.
async function firstConnection(
  options: NodeConnectionOptions,
  logger: Logger,
  signal: AbortSignal | undefined,
): Promise<NatsConnection> {
  let lastReason = '';
  for (;;) {
    signal?.throwIfAborted();
    try {
      return await abortable(connect(options), signal);
    } catch (err) {
      if (signal?.aborted) throw err;
      const reason = (err as Error).message;
      if (reason !== lastReason) {
        logger.warn({ servers: options.servers, err: reason }, 'cannot connect to NATS yet; retrying');
        lastReason = reason;
      }
    }
    await sleep(RECONNECT_WAIT_MS + Math.random() * RECONNECT_JITTER_MS, undefined, signal ? { signal } : {});
  }
}

// Settles like `attempt`, or rejects as soon as `signal` aborts (closing a connection that comes too late).
function abortable(attempt: Promise<NatsConnection>, signal: AbortSignal | undefined): Promise<NatsConnection> {
  if (!signal) return attempt;
  return new Promise((resolve, reject) => {
    const abort = () => {
      reject(signal.reason);
      attempt.then((nc) => nc.close(), () => undefined);
    };
    signal.addEventListener('abort', abort, { once: true });
    attempt.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
  });
}

export interface StatusLine {
  level: 'info' | 'warn';
  msg: string;
  fields: Record<string, unknown>;
}

// What a connection status means to an operator; undefined for routine ones (pings).
export function describeStatus(s: Status): StatusLine | undefined {
  switch (s.type) {
    case 'disconnect':
      return { level: 'warn', msg: 'NATS connection lost', fields: { server: s.server } };
    case 'reconnecting':
      return { level: 'info', msg: 'reconnecting to NATS', fields: {} };
    case 'reconnect':
      return { level: 'info', msg: 'reconnected to NATS', fields: { server: s.server } };
    case 'error':
      return { level: 'warn', msg: 'NATS server reported an error', fields: { err: s.error.message } };
    case 'ldm':
      return { level: 'warn', msg: 'NATS server is shutting down (lame duck mode)', fields: { server: s.server } };
    case 'staleConnection':
      return { level: 'warn', msg: 'NATS connection is stale (no answer to pings)', fields: {} };
    case 'slowConsumer':
      return { level: 'warn', msg: 'NATS subscription cannot keep up', fields: { subject: s.sub.getSubject() } };
    case 'update':
      return { level: 'info', msg: 'NATS cluster membership changed', fields: { added: s.added ?? [], deleted: s.deleted ?? [] } };
    case 'forceReconnect':
      return { level: 'info', msg: 'NATS reconnect forced', fields: {} };
    case 'close':
      return { level: 'info', msg: 'NATS connection closed', fields: {} };
    case 'ping':
      return undefined;
  }
}

// Logs each distinct status once until the connection is (re)established,
// so a reconnect loop retrying every second does not flood the log.
async function logStatusChanges(nc: NatsConnection, logger: Logger): Promise<void> {
  const logged = new Set<string>();
  for await (const s of nc.status()) {
    const line = describeStatus(s);
    if (!line) continue;
    const key = `${line.msg} ${JSON.stringify(line.fields)}`;
    if (s.type === 'reconnect') logged.clear();
    if (logged.has(key)) continue;
    logged.add(key);
    logger[line.level](line.fields, line.msg);
  }
}
