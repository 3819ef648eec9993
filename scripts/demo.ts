// npm run demo: two stand-in clusters with sample services, `mcsdns serve`
// against them, and the dig commands to try. Ctrl-C stops everything.
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import dnsPacket from 'dns-packet';
import { StandInApiServer } from '../test/k8s/apiServer.js';
import { demoObjects } from './demoObjects.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const port = Number(process.env.MCSDNS_DEMO_PORT ?? 5353);
const work = resolve(process.env.MCSDNS_DEMO_DIR ?? join(root, '.mcsdns-demo'));
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });

const clusters = ['east', 'west'];
const servers: StandInApiServer[] = [];
for (const id of clusters) {
  const token = `demo-token-${id}`;
  const server = await StandInApiServer.start({ tokens: [token] });
  for (const obj of demoObjects(id)) server.upsert(obj);
  server.writeKubeconfig(join(work, `${id}.kubeconfig`), { token, context: `admin@${id}` });
  servers.push(server);
}

const args = [
  join(root, 'dist/bin/mcsdns.js'),
  'serve',
  '--dns-listen',
  `127.0.0.1:${port}`,
  '--data-dir',
  join(work, 'data'),
  ...clusters.flatMap((id) => ['--cluster', `${id}=${join(work, `${id}.kubeconfig`)}@admin@${id}`]),
];
const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'pipe'], env: { ...process.env, MCSDNS_LOG_LEVEL: process.env.MCSDNS_LOG_LEVEL ?? 'warn' } });
child.stderr.pipe(process.stderr);
let stopping = false;
async function stop(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    child.kill('SIGTERM');
    await Promise.all(servers.map((s) => s.stop()));
  }
  process.exit(code);
}
child.on('exit', (code) => {
  if (!stopping) {
    console.error(`mcsdns serve exited (code ${code})`);
    void stop(1);
  }
});
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

// Resolves once serve answers the zone's SOA.
async function answering(): Promise<void> {
  const query = dnsPacket.encode({ type: 'query', id: 1, questions: [{ type: 'SOA', name: 'clusterset.local' }] });
  const sock = createSocket('udp4');
  try {
    await new Promise<void>((resolve) => {
      sock.once('message', () => resolve());
      const send = () => sock.send(query, port, '127.0.0.1');
      const timer = setInterval(send, 200);
      sock.once('message', () => clearInterval(timer));
      send();
    });
  } finally {
    sock.close();
  }
}
await answering();

const dig = (q: string) => `  dig @127.0.0.1 -p ${port} ${q}`;
console.log(`mcsdns demo: clusters ${clusters.join(' and ')} (stand-in API servers ${servers.map((s) => s.url).join(', ')})`);
console.log(`data directory: ${join(work, 'data')}\n`);
console.log(`mcsdns serve is answering clusterset.local on 127.0.0.1:${port}. Try:\n`);
for (const q of [
  'web.prod.svc.clusterset.local A           # ClusterSetIP exported by both clusters',
  'api.prod.svc.clusterset.local AAAA        # dual-stack ClusterSetIP',
  '_http._tcp.web.prod.svc.clusterset.local SRV',
  'db.prod.svc.clusterset.local A            # headless: ready endpoints of both clusters',
  '_postgres._tcp.db.prod.svc.clusterset.local SRV',
  'db-0.west.db.prod.svc.clusterset.local A  # one endpoint of one cluster',
  'nope.prod.svc.clusterset.local A          # NXDOMAIN',
  'dns-version.clusterset.local TXT',
  'clusterset.local SOA',
]) {
  console.log(dig(q));
}
console.log('\nCtrl-C stops everything.');

// One change to audit afterwards: db-1 in east stops being ready.
const CHANGE_AFTER_MS = Number(process.env.MCSDNS_DEMO_CHANGE_AFTER_MS ?? 20_000);
setTimeout(() => {
  for (const server of servers) {
    const slice = structuredClone(server.get('EndpointSlice', 'prod', 'imported-db-east'));
    slice.endpoints[1].conditions.ready = false;
    server.upsert(slice);
  }
  const audit = `npx mcsdns audit resolve db.prod.svc.clusterset.local --data-dir ${join(work, 'data')}`;
  console.log(`\n[${new Date().toISOString()}] changed: db-1 in east is no longer ready. Ask what DNS said before and since:`);
  console.log(`  ${audit} --at -${Math.ceil(CHANGE_AFTER_MS / 1000) - 5}s   # at first`);
  console.log(`  ${audit}   # now`);
  console.log(`  npx mcsdns audit history prod/db --data-dir ${join(work, 'data')}`);
}, CHANGE_AFTER_MS).unref();

