// Starts and stops what the cluster benchmarks measure: stand-in API servers
// (in this process), and the built mcsdns binary as `serve` (embedded mode)
// or as NATS JetStream + aggregator + agents + frontends. BENCH_PROFILE_DIR
// profiles every mcsdns child (cpuProfile.ts; one directory per role);
// BENCH_LOG_DIR keeps each child's log lines there.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { StandInApiServer } from '../../test/k8s/apiServer.js';
import { freePort } from '../../test/support/dnsClient.js';
import { McsdnsProcess } from '../../test/support/mcsdnsProcess.js';
import { NatsServer } from '../../test/support/natsServer.js';
import type { KubeObject } from './clusterset.js';

export interface DnsEndpoint {
  name: string;
  dnsPort: number;
  httpPort: number;
  process: McsdnsProcess;
}

const STOP_GRACE_MS = 10_000; // a profiled child writes its profile on a clean exit

export async function startStandIns(clusters: string[], objects: (cluster: string) => KubeObject[], dir: string): Promise<Map<string, StandInApiServer>> {
  const standIns = new Map<string, StandInApiServer>();
  for (const id of clusters) {
    const server = await StandInApiServer.start();
    for (const o of objects(id)) server.upsert(o);
    server.writeKubeconfig(kubeconfigPath(dir, id));
    standIns.set(id, server);
  }
  return standIns;
}

export async function stopStandIns(standIns: Map<string, StandInApiServer>): Promise<void> {
  await Promise.all([...standIns.values()].map((s) => s.stop()));
}

const kubeconfigPath = (dir: string, cluster: string) => join(dir, `${cluster}.kubeconfig`);

// The environment of a child: quiet logs, and a CPU profile when asked for.
function childEnv(role: string): NodeJS.ProcessEnv {
  const profileDir = process.env.BENCH_PROFILE_DIR;
  if (!profileDir) return { MCSDNS_LOG_LEVEL: 'info' };
  const dir = join(profileDir, role);
  mkdirSync(dir, { recursive: true });
  const preload = pathToFileURL(join(import.meta.dirname, 'cpuProfile.js')).href;
  return { MCSDNS_LOG_LEVEL: 'info', BENCH_CPU_PROFILE_DIR: dir, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${preload}`.trim() };
}

// Every mcsdns child of one run, stopped together.
export class BenchProcesses {
  private readonly children: McsdnsProcess[] = [];
  private nats: NatsServer | undefined;

  get processes(): readonly McsdnsProcess[] {
    return this.children;
  }

  start(role: string, args: string[]): McsdnsProcess {
    const child = new McsdnsProcess(role, args, childEnv(role));
    this.children.push(child);
    return child;
  }

  async startNats(): Promise<NatsServer> {
    this.nats = await NatsServer.start();
    return this.nats;
  }

  // `mcsdns serve` over the stand-ins' kubeconfigs; resolves once it serves.
  async serve(clusters: string[], dir: string, extra: string[] = []): Promise<DnsEndpoint> {
    const [dnsPort, httpPort] = [await freePort(), await freePort()];
    const args = ['serve', '--data-dir', join(dir, 'serve-data'), '--dns-listen', `127.0.0.1:${dnsPort}`, '--http-listen', `127.0.0.1:${httpPort}`, ...extra];
    for (const id of clusters) args.push('--cluster', `${id}=${kubeconfigPath(dir, id)}`);
    const process = this.start('serve', args);
    await process.waitForLine(/mcsdns serving/, 120_000);
    return { name: 'serve', dnsPort, httpPort, process };
  }

  aggregator(nats: NatsServer, clusters: string[], dir: string, extra: string[] = []): Promise<string> {
    const args = ['aggregator', '--nats', nats.url, '--db', join(dir, 'readmodel.db'), ...clusters.flatMap((id) => ['--expect-cluster', id]), ...extra];
    return this.start('aggregator', args).waitForLine(/mcsdns aggregator running/, 60_000);
  }

  // A frontend process; `ready` resolves once it listens (after its first snapshot).
  async frontend(nats: NatsServer, name: string): Promise<DnsEndpoint & { ready: Promise<string> }> {
    const [dnsPort, httpPort] = [await freePort(), await freePort()];
    const args = ['frontend', '--nats', nats.url, '--dns-listen', `127.0.0.1:${dnsPort}`, '--http-listen', `127.0.0.1:${httpPort}`, '--startup-timeout', '120s'];
    const process = this.start(name, args);
    return { name, dnsPort, httpPort, process, ready: process.waitForLine(/mcsdns frontend running/, 180_000) };
  }

  agents(nats: NatsServer, clusters: string[], dir: string): McsdnsProcess[] {
    return clusters.map((id) => this.start(`agent-${id}`, ['agent', '--cluster-id', id, '--kubeconfig', kubeconfigPath(dir, id), '--nats', nats.url]));
  }

  // Profiled children discard what they profiled so far (see cpuProfile.ts).
  restartProfiles(): void {
    if (!process.env.BENCH_PROFILE_DIR) return;
    for (const c of this.children) if (c.pid !== undefined && c.running) process.kill(c.pid, 'SIGUSR2');
  }

  async stop(): Promise<void> {
    await Promise.all(this.children.map((c) => stopChild(c)));
    const logDir = process.env.BENCH_LOG_DIR;
    if (logDir) {
      mkdirSync(logDir, { recursive: true });
      for (const c of this.children) writeFileSync(join(logDir, `${c.name}.log`), c.lines.join('\n') + '\n');
    }
    this.children.length = 0;
    await this.nats?.stop();
    this.nats = undefined;
  }
}

async function stopChild(child: McsdnsProcess): Promise<void> {
  if (!child.running) return;
  const timer = setTimeout(() => void child.kill('SIGKILL'), STOP_GRACE_MS);
  await child.kill('SIGTERM');
  clearTimeout(timer);
}

// Resident and peak resident memory of a process, in MiB (Linux).
export function memoryOf(pid: number | undefined): { rssMiB: number; peakMiB: number } | undefined {
  if (pid === undefined) return undefined;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rssMiB: kib('VmRSS') / 1024, peakMiB: kib('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}

// Waits for /readyz to say 200: for a frontend, every cluster finished its first sync.
export async function whenReady(endpoint: DnsEndpoint, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await fetch(`http://127.0.0.1:${endpoint.httpPort}/readyz`).then((r) => r.status, () => 0);
    if (status === 200) return;
    if (Date.now() > deadline) throw new Error(`${endpoint.name} not ready after ${timeoutMs} ms (last status ${status})`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

// This process's children running `command` (Linux), such as the nats-server a NatsServer started.
export function childPids(command: string): number[] {
  const children = readdirSync('/proc/self/task').flatMap((task) => readFileSync(`/proc/self/task/${task}/children`, 'utf8').split(' ').filter(Boolean).map(Number));
  return children.filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === command;
    } catch {
      return false;
    }
  });
}

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on Linux

// Fields of /proc/PID/stat after the command name (which may hold spaces), summed, in seconds.
function statSeconds(pid: number | 'self', fields: number[]): number {
  try {
    const all = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return fields.reduce((sum, f) => sum + Number(all[f]), 0) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

// CPU time (user + system) a process has used so far, in seconds (Linux).
export function cpuSeconds(pid: number | undefined): number {
  return pid === undefined ? NaN : statSeconds(pid, [11, 12]);
}

// CPU time of this process's children that ended and were waited for.
export function waitedChildrenCpuSeconds(): number {
  return statSeconds('self', [13, 14]);
}
