// The names of an answer table by their name keys: open addressing over the
// keys the arena holds at each name (rrset.ts NAME_KEY, relative to the
// name's zone), so that a query's name is found from the octets of its
// packet, letter case folded, without a string or an object per query or per name.

import type { NameArena } from './nameArena.js';
import { NAME_KEY, NAME_KEY_LENGTH, NAME_ZONE } from './rrset.js';

const EMPTY = -1;
const INITIAL_SLOTS = 64;

export class NameIndex {
  private hashes = new Int32Array(INITIAL_SLOTS);
  private addresses = new Int32Array(INITIAL_SLOTS).fill(EMPTY);
  private count = 0;

  // `zones`: the zones' name keys, by zone index (rrset.ts NAME_ZONE).
  constructor(
    readonly arena: NameArena,
    private readonly zones: Buffer[],
  ) {}

  get size(): number {
    return this.count;
  }

  // The address of the name whose full key is octets[start, end), in any letter case; -1 when none.
  find(octets: Uint8Array, start: number, end: number): number {
    const hash = hashOf(octets, start, end, HASH_START);
    const mask = this.addresses.length - 1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const address = this.addresses[slot]!;
      if (address === EMPTY) return -1;
      if (this.hashes[slot] === hash && this.keyEquals(address, octets, start, end)) return address;
    }
  }

  // Adds the name the arena holds at `address` under its key; returns the
  // address of the name of that key it replaces, -1 when none.
  add(address: number): number {
    if (2 * (this.count + 1) > this.addresses.length) this.grow();
    const hash = this.hashAt(address);
    const mask = this.addresses.length - 1;
    let slot = hash & mask;
    for (; this.addresses[slot] !== EMPTY; slot = (slot + 1) & mask) {
      const known = this.addresses[slot]!;
      if (this.hashes[slot] !== hash || !this.sameKey(known, address)) continue;
      this.addresses[slot] = address;
      return known;
    }
    this.addresses[slot] = address;
    this.hashes[slot] = hash;
    this.count++;
    return EMPTY;
  }

  // The name that was at `from` is now at `to`; its key is the same.
  move(from: number, to: number): void {
    const hash = this.hashAt(to);
    const mask = this.addresses.length - 1;
    for (let slot = hash & mask; this.addresses[slot] !== EMPTY; slot = (slot + 1) & mask) {
      if (this.addresses[slot] !== from || this.hashes[slot] !== hash) continue;
      this.addresses[slot] = to;
      return;
    }
  }

  // Removes the name at `address`, when the index holds it.
  remove(address: number): void {
    const mask = this.addresses.length - 1;
    let hole = this.hashAt(address) & mask;
    for (; this.addresses[hole] !== address; hole = (hole + 1) & mask) if (this.addresses[hole] === EMPTY) return;
    // Backward shift: later names of the probe run that may sit in the hole move up.
    for (let next = (hole + 1) & mask; this.addresses[next] !== EMPTY; next = (next + 1) & mask) {
      if (isBetween(hole, this.hashes[next]! & mask, next)) continue; // its home lies after the hole
      this.addresses[hole] = this.addresses[next]!;
      this.hashes[hole] = this.hashes[next]!;
      hole = next;
    }
    this.addresses[hole] = EMPTY;
    this.count--;
  }

  // Every name's address, in no order.
  *[Symbol.iterator](): Generator<number> {
    for (const address of this.addresses) if (address !== EMPTY) yield address;
  }

  // The hash of the full key of the name at `address`: its key, then its zone's.
  private hashAt(address: number): number {
    const block = this.arena.chunkOf(address);
    const at = this.arena.offsetOf(address);
    const zone = this.zones[block[at + NAME_ZONE]!]!;
    return hashOf(zone, 0, zone.length, hashOf(block, at + NAME_KEY, at + NAME_KEY + block[at + NAME_KEY_LENGTH]!, HASH_START));
  }

  // Whether the name at `address` has the full key octets[start, end).
  private keyEquals(address: number, octets: Uint8Array, start: number, end: number): boolean {
    const block = this.arena.chunkOf(address);
    const at = this.arena.offsetOf(address);
    const zone = this.zones[block[at + NAME_ZONE]!]!;
    const length = block[at + NAME_KEY_LENGTH]!;
    if (length + zone.length !== end - start) return false;
    for (let i = 0; i < length; i++) if (block[at + NAME_KEY + i] !== lowerCase(octets[start + i]!)) return false;
    for (let i = 0, from = start + length; i < zone.length; i++) if (zone[i] !== lowerCase(octets[from + i]!)) return false;
    return true;
  }

  // Whether the names at `a` and `b` have one key. A full key lies in one
  // zone, the innermost: same zone, same relative key.
  private sameKey(a: number, b: number): boolean {
    const blockA = this.arena.chunkOf(a);
    const atA = this.arena.offsetOf(a);
    const blockB = this.arena.chunkOf(b);
    const atB = this.arena.offsetOf(b);
    const length = blockA[atA + NAME_KEY_LENGTH]!;
    if (blockA[atA + NAME_ZONE] !== blockB[atB + NAME_ZONE] || blockB[atB + NAME_KEY_LENGTH] !== length) return false;
    for (let i = 0; i < length; i++) if (blockA[atA + NAME_KEY + i] !== blockB[atB + NAME_KEY + i]) return false;
    return true;
  }

  private grow(): void {
    const hashes = this.hashes;
    const addresses = this.addresses;
    this.hashes = new Int32Array(2 * addresses.length);
    this.addresses = new Int32Array(2 * addresses.length).fill(EMPTY);
    const mask = this.addresses.length - 1;
    for (let i = 0; i < addresses.length; i++) {
      if (addresses[i] === EMPTY) continue;
      let slot = hashes[i]! & mask;
      while (this.addresses[slot] !== EMPTY) slot = (slot + 1) & mask;
      this.addresses[slot] = addresses[i]!;
      this.hashes[slot] = hashes[i]!;
    }
  }
}

const HASH_START = 0x811c9dc5;
const lowerCase = (octet: number): number => (octet >= 0x41 && octet <= 0x5a ? octet + 0x20 : octet);

// FNV-1a of the octets, letter case folded, going on from `hash`.
function hashOf(octets: Uint8Array, start: number, end: number, hash: number): number {
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ lowerCase(octets[i]!), 0x01000193);
  return hash;
}

// Whether `home` lies in the cyclic range (hole, next].
function isBetween(hole: number, home: number, next: number): boolean {
  return hole <= next ? hole < home && home <= next : hole < home || home <= next;
}
