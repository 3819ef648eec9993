// The frontend's answer table on its own, without sockets: compile time per
// name, respond() time per query over bench:dns's query mix, and the memory
// the table keeps per name once the view it was compiled from is gone.
// Run: node --expose-gc --import tsx scripts/bench/answerTable.ts
// Sizes: TABLE_SERVICES (20000, as bench:dns), TABLE_QUERIES (100000),
// TABLE_ROUNDS (best of; 5), TABLE_SEED (1).
import dnsPacket from 'dns-packet';
import { compileAnswers, type AnswerTable } from '../../services/frontend/answers.js';
import { respond } from '../../services/frontend/respond.js';
import { HEADER_LENGTH } from '../../services/frontend/wire.js';
import type { DnsView } from '../../shared/view.js';
import { absolute } from './answerCheck.js';
import { generateClusterset, questionMix } from './clusterset.js';
import { envNumber } from './env.js';

const ZONE = 'clusterset.local';
const TTL = 5;
const services = envNumber('TABLE_SERVICES', 20_000);
const queryCount = envNumber('TABLE_QUERIES', 100_000);
const rounds = envNumber('TABLE_ROUNDS', 5);
const seed = envNumber('TABLE_SEED', 1);

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  console.error('run with node --expose-gc');
  process.exit(2);
}

const set = generateClusterset({ services, clusters: 3, headlessShare: 0.2, endpoints: 3, seed });
const names = Object.values(set.view.services).reduce((n, s) => n + Object.keys(s.names).length, 0);
const snapshot = Buffer.from(JSON.stringify(set.view)); // what a frontend decodes its view from
const packets = questionMix(set, queryCount, seed + 1).map((q) =>
  dnsPacket.encode({
    type: 'query',
    id: 1,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type: q.type, name: absolute(q.name, ZONE), class: 'IN' }],
    additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096 } as dnsPacket.Answer],
  }),
);
console.log(`${services} services, ${names} names, ${packets.length} queries, best of ${rounds}`);

const decode = (): DnsView => JSON.parse(snapshot.toString()) as DnsView;
const compile = (view: DnsView): AnswerTable => compileAnswers(view, [ZONE], TTL);

function best(run: () => number): number {
  let min = Infinity;
  for (let r = 0; r < rounds; r++) min = Math.min(min, run());
  return min;
}

// CPU time, not wall time: the machine is shared, and waiting for a core is not our cost.
function cpuNs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) * 1000;
}

const compileUs = (): number => {
  const view = decode();
  const started = cpuNs();
  compile(view);
  return (cpuNs() - started) / 1000 / names;
};
const coldCompileUs = compileUs(); // as a frontend's first snapshot: code not yet optimised
const warmCompileUs = best(compileUs);

const table = compile(decode());
let sink = 0;
const queryNs = best(() => {
  const started = cpuNs();
  for (const packet of packets) sink += respond(packet, table, 'udp')!.length;
  return (cpuNs() - started) / packets.length;
});

// The bare ceiling's work per query (scripts/bench/ceilingServer.ts): one
// Map lookup of the question's octets, a copy of a precomputed response.
const precomputed = new Map<string, Buffer>();
for (const packet of packets) precomputed.set(questionKey(packet), respond(packet, table, 'udp')!);
const ceilingNs = best(() => {
  const started = cpuNs();
  for (const packet of packets) {
    const response = precomputed.get(questionKey(packet))!;
    const out = Buffer.allocUnsafe(response.length);
    response.copy(out);
    out[0] = packet[0]!;
    sink += out.length;
  }
  return (cpuNs() - started) / packets.length;
});

function questionKey(packet: Buffer): string {
  let at = HEADER_LENGTH;
  while (packet[at]! !== 0) at += packet[at]! + 1;
  return packet.toString('latin1', HEADER_LENGTH, at + 5);
}

function retained(): number {
  gc!();
  gc!();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}
// The second of two tables: the first also grows what any JSON.parse grows once.
const kept = [compile(decode())];
const before = retained();
kept.push(compile(decode()));
const bytesPerName = (retained() - before) / names;

console.log(`compile: ${coldCompileUs.toFixed(2)} µs per name the first time, ${warmCompileUs.toFixed(2)} µs at best`);
console.log(`respond: ${queryNs.toFixed(0)} ns per query; the ceiling's lookup and copy: ${ceilingNs.toFixed(0)} ns; respond costs ${(queryNs - ceilingNs).toFixed(0)} ns more`);
console.log(`memory: ${bytesPerName.toFixed(0)} bytes per name kept (heap and buffers, after the view is dropped)`);
if (sink === 0) console.log('no response had any octets');
