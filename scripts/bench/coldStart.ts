// npx tsx scripts/bench/coldStart.ts: a frontend's cold start from a view
// snapshot in NATS, without bench:scale's sync: process start → first right
// answer, with the steps its log names, its CPU time and RSS. The view is
// bench:scale's (scaleView.ts). Sizes from the environment: COLD_SERVICES,
// COLD_ENDPOINTS, COLD_CLUSTERS, COLD_HEADLESS_SHARE, COLD_RUNS;
// MCSDNS_MAIN picks the built binary (default dist/bin/mcsdns.js),
// COLD_PROFILE_DIR makes each frontend write a CPU profile there.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstream } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import { connect } from '@nats-io/transport-node';
import { expectedNames } from '../bench-cluster/clusterset.js';
import { DnsProber, expectedAnswer, isRight, type Check } from '../bench-cluster/dnsProber.js';
import { summarize } from '../bench-cluster/stats.js';
import { cpuSeconds, memoryOf } from '../bench-cluster/topology.js';
import { freePort } from '../../test/support/dnsClient.js';
import { mcsdnsMain } from '../../test/support/mcsdnsProcess.js';
import { NatsServer } from '../../test/support/natsServer.js';
import { silentLogger } from '../../shared/logger.js';
import type { ViewFeed } from '../../shared/view.js';
import { NatsViewPublisher } from '../../shared/viewPublisher.js';
import { envNumber } from './env.js';
import { scaleView } from './scaleView.js';

const ZONE = 'clusterset.local';
const CLOCK_TICKS_PER_SECOND = 100;
const runs = envNumber('COLD_RUNS', 5);
// The CPU time of a process's main thread: on a busy machine a better
// measure than the wall clock (helper threads for GC and compiling aside).
function mainThreadCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
}

// The last service's A answer, as bench:scale asks first.
function firstCheck(): Check {
  const service = set.services[set.services.length - 1]!;
  const name = `${service.name}.${service.namespace}.svc`;
  return { name: `${name}.${ZONE}`, type: 'A', answer: expectedAnswer(expectedNames(set, service)[name]!, 'A', ZONE) };
}

const { set, view: generated, names } = scaleView('COLD');
const server = await NatsServer.start();
const nc = await connect({ servers: server.url });
const feed: ViewFeed = { subscribe: (listener) => (listener.snapshot(generated), () => undefined) };
const publisher = await NatsViewPublisher.start(nc, feed, {}, silentLogger);
const store = await new Objm(jetstream(nc)).open('mcsdns-snapshots');
while (!(await store.info('view'))) await sleep(100);
const prober = await DnsProber.open();
const main = process.env.MCSDNS_MAIN ?? mcsdnsMain;
try {
  console.log(`cold start of a frontend (${main}) from a snapshot of ${names} names; ${runs} runs`);
  const check = firstCheck();
  const times: number[] = [];
  const mainCpu: number[] = [];
  for (let run = 0; run < runs; run++) {
    const port = await freePort();
    const [startedAt, startedAtWall] = [performance.now(), Date.now()];
    const profile = process.env.COLD_PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', process.env.COLD_PROFILE_DIR] : [];
    const child = spawn(process.execPath, [...profile, main, 'frontend', '--nats', server.url, '--dns-listen', `127.0.0.1:${port}`, '--startup-timeout', '60s'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, MCSDNS_LOG_LEVEL: 'info' },
    });
    let log = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (log += d));
    let answeredAt = 0;
    while (answeredAt === 0) {
      const reply = await prober.queryWhole(port, check.name, check.type, 20);
      if (isRight(reply, check)) answeredAt = reply!.at;
      else await sleep(2);
    }
    times.push(answeredAt - startedAt);
    const cpuMs = cpuSeconds(child.pid) * 1000;
    const mainCpuMs = mainThreadCpuMs(child.pid!);
    mainCpu.push(mainCpuMs);
    await sleep(500);
    const memory = memoryOf(child.pid);
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    const at = (msg: string) => {
      const line = log.split('\n').find((l) => l.includes(`"msg":"${msg}`));
      return line ? `${JSON.parse(line).time - startedAtWall} ms` : '-';
    };
    const loaded = log.split('\n').find((l) => l.includes('"msg":"view snapshot loaded'));
    console.log(
      `  run ${run + 1}: first right answer after ${(answeredAt - startedAt).toFixed(0)} ms (CPU ${cpuMs.toFixed(0)} ms, ${mainCpuMs.toFixed(0)} ms of it on the main thread); NATS connected at ${at('connected to NATS')}, snapshot loaded at ${at('view snapshot loaded')}` +
        ` (read and decoded in ${loaded ? JSON.parse(loaded).loadMs : '-'} ms), listening at ${at('DNS frontend listening')}; RSS ${memory?.rssMiB.toFixed(0)} MiB (peak ${memory?.peakMiB.toFixed(0)})`,
    );
  }
  console.log(`  median ${summarize(times).p50.toFixed(0)} ms; main thread's CPU until then: median ${summarize(mainCpu).p50.toFixed(0)} ms`);
} finally {
  prober.close();
  await publisher.stop();
  await nc.close();
  await server.stop();
}
