// IP address text → the octets of A and AAAA record data, written in place.
// The view is not trusted to be clean: anything that is not an address of
// the family writes nothing, and a bad record must not break a whole answer.

import { isIPv4, isIPv6 } from 'node:net';

// Returns how many octets were written at `offset` (4 or 16), 0 for no address.
export function writeAddress(family: 4 | 6, address: string, buf: Buffer, offset: number): number {
  if (family === 4) return isIPv4(address) ? writeIPv4(address, buf, offset) : 0;
  return isIPv6(address) && !address.includes('%') ? writeIPv6(address, buf, offset) : 0;
}

function writeIPv4(address: string, buf: Buffer, offset: number): number {
  let at = offset;
  let octet = 0;
  for (let i = 0; i < address.length; i++) {
    const c = address.charCodeAt(i);
    if (c === 0x2e) {
      buf[at++] = octet;
      octet = 0;
    } else octet = octet * 10 + c - 0x30;
  }
  buf[at] = octet;
  return 4;
}

function writeIPv6(address: string, buf: Buffer, offset: number): number {
  let text = address;
  // A trailing dotted quad ("::ffff:10.0.0.1") is the last 32 bits.
  const lastColon = text.lastIndexOf(':');
  const dottedQuad = text.includes('.', lastColon) ? text.slice(lastColon + 1) : undefined;
  if (dottedQuad) text = `${text.slice(0, lastColon + 1)}0:0`;
  const [head = '', tail] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros: string[] = tail === undefined ? [] : Array(8 - headGroups.length - tailGroups.length).fill('0');
  [...headGroups, ...zeros, ...tailGroups].forEach((group, i) => buf.writeUInt16BE(parseInt(group, 16), offset + i * 2));
  if (dottedQuad) writeIPv4(dottedQuad, buf, offset + 12);
  return 16;
}
