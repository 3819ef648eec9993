// IP address text → the octets of A and AAAA record data, written in place.
// The view is not trusted to be clean: anything that is not an address of
// the family writes nothing, and a bad record must not break a whole answer.

import { isIPv6 } from 'node:net';

const DOT = 0x2e;
const ZERO = 0x30;

// Returns how many octets were written at `offset` (4 or 16), 0 for no address.
export function writeAddress(family: 4 | 6, address: string, buf: Buffer, offset: number): number {
  if (family === 4) return isIPv4(address) ? writeIPv4(address, buf, offset) : 0;
  return isIPv6(address) && !address.includes('%') ? writeIPv6(address, buf, offset) : 0;
}

// As node:net's isIPv4, without a regular expression (it runs for every
// record compiled): four decimal octets of 0–255, without leading zeros.
export function isIPv4(address: string): boolean {
  let at = 0;
  for (let octet = 0; octet < 4; octet++) {
    if (octet > 0 && address.charCodeAt(at++) !== DOT) return false;
    const first = address.charCodeAt(at++) - ZERO;
    if (!(first >= 0 && first <= 9)) return false;
    let value = first;
    for (let digits = 1; first !== 0 && digits < 3; digits++) {
      const digit = address.charCodeAt(at) - ZERO;
      if (!(digit >= 0 && digit <= 9)) break;
      value = value * 10 + digit;
      at++;
    }
    if (value > 255) return false;
  }
  return at === address.length;
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

// `address` is an IPv6 address (isIPv6, no zone): its groups in order, those
// after "::" at the end. Parsed by hand: this runs for every AAAA compiled.
function writeIPv6(address: string, buf: Buffer, offset: number): number {
  // A trailing dotted quad ("::ffff:10.0.0.1") is the last 32 bits.
  const lastColon = address.lastIndexOf(':');
  const quad = address.indexOf('.', lastColon) >= 0;
  const end = quad ? lastColon + 1 : address.length;
  groups.length = 0;
  let gap = -1; // how many groups come before "::"
  let value = 0;
  let digits = 0;
  for (let i = 0; i < end; i++) {
    const c = address.charCodeAt(i);
    if (c !== COLON) {
      value = value * 16 + hexValue(c);
      digits++;
      continue;
    }
    if (digits > 0) groups.push(value);
    value = 0;
    digits = 0;
    if (address.charCodeAt(i + 1) === COLON) {
      gap = groups.length;
      i++;
    }
  }
  if (digits > 0) groups.push(value);
  for (let i = 0; i < 16; i++) buf[offset + i] = 0;
  const words = quad ? 6 : 8;
  groups.forEach((group, g) => {
    const word = gap >= 0 && g >= gap ? words - groups.length + g : g;
    buf[offset + 2 * word] = group >> 8;
    buf[offset + 2 * word + 1] = group;
  });
  if (quad) writeIPv4(address.slice(lastColon + 1), buf, offset + 12);
  return 16;
}

const groups: number[] = [];
const COLON = 0x3a;

// A hexadecimal digit's value.
function hexValue(c: number): number {
  if (c <= 0x39) return c - ZERO;
  return (c | 0x20) - 0x61 + 10;
}
