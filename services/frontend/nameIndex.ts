// The names of an answer table by their name keys: open addressing over the
// keys the arena holds at each name (rrset.ts NAME_KEY, relative to the
// name's zone), so that a query's name is found from the octets of its
// packet, letter case folded, without a string or an object per query or per name.

import type { NameArena } from './nameArena.js';
import { NAME_KEY, NAME_KEY_LENGTH, NAME_ZONE } from './rrset.js';

const EMPTY = -1;
const INITIAL_SLOTS = 64;

export class NameIndex {
  // Slot i: its name's hash at 2i, its address at 2i + 1 (EMPTY: none).
  // Side by side, a probe reads one cache line, not two.
  private slots = emptySlots(INITIAL_SLOTS);
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
    const slots = this.slots;
    const mask = slots.length / 2 - 1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const address = slots[2 * slot + 1]!;
      if (address === EMPTY) return -1;
      if (slots[2 * slot] === hash && this.keyEquals(address, octets, start, end)) return address;
    }
  }

  // Adds the name the arena holds at `address` under its key; returns the
  // address of the name of that key it replaces, -1 when none.
  add(address: number): number {
    if (4 * (this.count + 1) > this.slots.length) this.grow();
    const hash = this.hashAt(address);
    const slots = this.slots;
    const mask = slots.length / 2 - 1;
    let slot = hash & mask;
    for (; slots[2 * slot + 1] !== EMPTY; slot = (slot + 1) & mask) {
      const known = slots[2 * slot + 1]!;
      if (slots[2 * slot] !== hash || !this.sameKey(known, address)) continue;
      slots[2 * slot + 1] = address;
      return known;
    }
    slots[2 * slot] = hash;
    slots[2 * slot + 1] = address;
    this.count++;
    return EMPTY;
  }

  // The name that was at `from` is now at `to`; its key is the same.
  move(from: number, to: number): void {
    const hash = this.hashAt(to);
    const slots = this.slots;
    const mask = slots.length / 2 - 1;
    for (let slot = hash & mask; slots[2 * slot + 1] !== EMPTY; slot = (slot + 1) & mask) {
      if (slots[2 * slot + 1] !== from || slots[2 * slot] !== hash) continue;
      slots[2 * slot + 1] = to;
      return;
    }
  }

  // Removes the name at `address`, when the index holds it.
  remove(address: number): void {
    const slots = this.slots;
    const mask = slots.length / 2 - 1;
    let hole = this.hashAt(address) & mask;
    for (; slots[2 * hole + 1] !== address; hole = (hole + 1) & mask) if (slots[2 * hole + 1] === EMPTY) return;
    // Backward shift: later names of the probe run that may sit in the hole move up.
    for (let next = (hole + 1) & mask; slots[2 * next + 1] !== EMPTY; next = (next + 1) & mask) {
      if (isBetween(hole, slots[2 * next]! & mask, next)) continue; // its home lies after the hole
      slots[2 * hole] = slots[2 * next]!;
      slots[2 * hole + 1] = slots[2 * next + 1]!;
      hole = next;
    }
    slots[2 * hole + 1] = EMPTY;
    this.count--;
  }

  // Every name's address, in no order.
  *[Symbol.iterator](): Generator<number> {
    for (let i = 1; i < this.slots.length; i += 2) if (this.slots[i] !== EMPTY) yield this.slots[i]!;
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
    const old = this.slots;
    const slots = (this.slots = emptySlots(old.length)); // twice the slots
    const mask = slots.length / 2 - 1;
    for (let i = 0; i < old.length; i += 2) {
      if (old[i + 1] === EMPTY) continue;
      let slot = old[i]! & mask;
      while (slots[2 * slot + 1] !== EMPTY) slot = (slot + 1) & mask;
      slots[2 * slot] = old[i]!;
      slots[2 * slot + 1] = old[i + 1]!;
    }
  }
}

// `count` slots, none used.
const emptySlots = (count: number): Int32Array => new Int32Array(2 * count).fill(EMPTY);

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
