// The bare node:dgram ceiling: answers each query with a copy of a
// precomputed response for its question, patching only the id. No parsing
// beyond finding the question's end, no checks: what Node can do at most.
// Run as: node ceilingServer.js RESPONSES_FILE PORT (responses: 2-octet
// length, then the message, one after the other; the question is the key).
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';

const HEADER_LENGTH = 12;
const QUESTION_FIXED = 4; // QTYPE and QCLASS after the name

// The question's octets as a string, undefined when it runs past the end.
function questionKey(packet: Buffer): string | undefined {
  let at = HEADER_LENGTH;
  for (let length = packet[at]; length !== undefined && length !== 0; length = packet[at]) at += length + 1;
  const end = at + 1 + QUESTION_FIXED;
  return end <= packet.length ? packet.toString('latin1', HEADER_LENGTH, end) : undefined;
}

function loadResponses(file: Buffer): Map<string, Buffer> {
  const responses = new Map<string, Buffer>();
  for (let at = 0; at + 2 <= file.length; at += 2 + file.readUInt16BE(at)) {
    const response = file.subarray(at + 2, at + 2 + file.readUInt16BE(at));
    const key = questionKey(response);
    if (key !== undefined) responses.set(key, Buffer.from(response));
  }
  return responses;
}

const [file, port] = process.argv.slice(2);
const responses = loadResponses(readFileSync(file!));
// The same synchronous lookup the frontend passes: replies go to literal addresses.
const socket = dgram.createSocket({ type: 'udp4', lookup: (address, _options, callback) => callback(null, address, 4) });
socket.on('message', (packet, peer) => {
  const key = questionKey(packet);
  const response = key === undefined ? undefined : responses.get(key);
  if (!response) return;
  const out = Buffer.allocUnsafe(response.length);
  response.copy(out);
  out[0] = packet[0]!;
  out[1] = packet[1]!;
  socket.send(out, peer.port, peer.address);
});
socket.bind(Number(port), '127.0.0.1', () => console.log(`ceiling listening on ${socket.address().port} with ${responses.size} responses`));
process.on('SIGTERM', () => socket.close());
