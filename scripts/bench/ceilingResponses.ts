// The ceiling responder's answers: for each question, the very response the
// mcsdns answer code gives, so the ceiling serves the same octets and
// measures only what Node's UDP path costs.
import dnsPacket from 'dns-packet';
import { compileAnswers } from '../../services/frontend/answers.js';
import { respond } from '../../services/frontend/respond.js';
import type { DnsView } from '../../shared/view.js';
import { absolute } from './answerCheck.js';
import type { Question } from './clusterset.js';

// Length-prefixed responses, one per distinct question (ceilingServer.ts reads them).
export function ceilingResponses(view: DnsView, zone: string, ttl: number, questions: Question[]): Buffer {
  const table = compileAnswers(view, [zone], ttl);
  const seen = new Set<string>();
  const framed: Buffer[] = [];
  for (const q of questions) {
    const key = `${q.name} ${q.type}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const query = dnsPacket.encode({
      type: 'query',
      id: 0,
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ type: q.type, name: absolute(q.name, zone), class: 'IN' }],
      additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096 } as dnsPacket.Answer],
    });
    const response = respond(query, table, 'udp');
    if (!response) throw new Error(`no response for ${key}`);
    const length = Buffer.alloc(2);
    length.writeUInt16BE(response.length);
    framed.push(length, response);
  }
  return Buffer.concat(framed);
}
