// Real nats-server processes for tests: JetStream on, free ports, temporary
// storage. Without the binary a suite is skipped with the reason shown; under
// CI=true that is a failure instead.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function natsServerMissing(): string | undefined {
  const r = spawnSync('nats-server', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    const why = 'nats-server is not on PATH (Debian package nats-server)';
    if (process.env.CI === 'true') throw new Error(`${why}: required under CI=true`);
    return why;
  }
  return undefined;
}

async function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function reachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export interface NatsServerOptions {
  config?: string; // extra nats-server configuration text (accounts, authorization, tls…)
  name?: string;
  clusterPort?: number;
  routes?: number[]; // cluster ports of the other nodes
  env?: NodeJS.ProcessEnv; // for variables the config refers to
}

export class NatsServer {
  private child: ChildProcess | undefined;
  readonly log: string[] = [];

  private constructor(
    readonly port: number,
    private readonly monitorPort: number,
    private readonly dir: string,
    private readonly configPath: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  static async start(opts: NatsServerOptions = {}): Promise<NatsServer> {
    const port = await freeTcpPort();
    const monitorPort = await freeTcpPort();
    const dir = mkdtempSync(join(tmpdir(), 'mcsdns-nats-'));
    const lines = [
      `listen: 127.0.0.1:${port}`,
      `http: 127.0.0.1:${monitorPort}`,
      `server_name: ${opts.name ?? `n${port}`}`,
      `jetstream { store_dir: "${join(dir, 'js')}" }`,
    ];
    if (opts.clusterPort !== undefined) {
      lines.push(
        `cluster { name: mcsdns-test, listen: 127.0.0.1:${opts.clusterPort}, routes: [${(opts.routes ?? []).map((p) => `nats-route://127.0.0.1:${p}`).join(', ')}] }`,
      );
    }
    if (opts.config) lines.push(opts.config);
    const configPath = join(dir, 'nats.conf');
    writeFileSync(configPath, lines.join('\n') + '\n');
    const server = new NatsServer(port, monitorPort, dir, configPath, opts.env ?? {});
    await server.run();
    if (opts.clusterPort === undefined) await server.healthy();
    return server;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  // Starts the process (again) with the same port, storage and config.
  async run(): Promise<void> {
    if (this.child) return;
    const child = spawn('nats-server', ['-c', this.configPath], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...this.env } });
    const keep = (d: string) => {
      this.log.push(d);
      if (this.log.length > 500) this.log.shift();
    };
    child.stdout!.setEncoding('utf8').on('data', keep);
    child.stderr!.setEncoding('utf8').on('data', keep);
    child.once('exit', () => {
      if (this.child === child) this.child = undefined;
    });
    this.child = child;
    const deadline = Date.now() + 10000;
    while (!(await reachable(this.port))) {
      if (!this.child) throw new Error(`nats-server exited: ${this.log.join('').slice(-500)}`);
      if (Date.now() > deadline) throw new Error(`nats-server did not listen on ${this.port}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  // Resolves once the server reports itself healthy, JetStream included
  // (in a cluster: a metadata leader is elected).
  async healthy(timeoutMs = 20000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const r = await fetch(`http://127.0.0.1:${this.monitorPort}/healthz`);
        if (r.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`nats-server on ${this.port} not healthy: ${this.log.join('').slice(-500)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  // Stops the process (SIGKILL when `hard`), keeping its storage for run().
  async halt(hard = false): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(hard ? 'SIGKILL' : 'SIGTERM');
    await exited;
    this.child = undefined;
  }

  async stop(): Promise<void> {
    await this.halt(true);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// A JetStream cluster of n nodes on loopback.
export async function startNatsCluster(n = 3, config?: string): Promise<NatsServer[]> {
  const clusterPorts = await Promise.all(Array.from({ length: n }, () => freeTcpPort()));
  const nodes = await Promise.all(
    clusterPorts.map((clusterPort, i) =>
      NatsServer.start({
        name: `node${i + 1}`,
        clusterPort,
        routes: clusterPorts.filter((p) => p !== clusterPort),
        ...(config ? { config } : {}),
      }),
    ),
  );
  await Promise.all(nodes.map((node) => node.healthy()));
  return nodes;
}

// The users of deploy/nats-permissions.conf with test passwords.
export const samplePasswords: Record<string, string> = {
  aggregator: 'pw-aggregator',
  frontend: 'pw-frontend',
  'agent-east': 'pw-east',
  'agent-west': 'pw-west',
};

// A server with the sample permissions of deploy/nats-permissions.conf.
export function startSecuredNats(): Promise<NatsServer> {
  return NatsServer.start({
    config: readFileSync(join(process.cwd(), 'deploy/nats-permissions.conf'), 'utf8'),
    env: {
      MCSDNS_AGGREGATOR_PASSWORD: samplePasswords.aggregator,
      MCSDNS_FRONTEND_PASSWORD: samplePasswords.frontend,
      MCSDNS_AGENT_EAST_PASSWORD: samplePasswords['agent-east'],
      MCSDNS_AGENT_WEST_PASSWORD: samplePasswords['agent-west'],
    },
  });
}
