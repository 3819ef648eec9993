// Where compiled names live (rrset.ts): chunks of octets, a name addressed by
// a small integer, its chunk's number and its offset there. A number per name
// instead of an object saves memory and a cache miss per query. A service's
// names stay together in one chunk; a service larger than a chunk gets one
// of its own, which takes as many chunk numbers as its size needs.

const CHUNK_BITS = 20;
export const CHUNK_SIZE = 1 << CHUNK_BITS;
const MAX_CHUNKS = 1 << (30 - CHUNK_BITS); // addresses stay small integers (V8 Smis)

export class NameArena {
  readonly chunks: Buffer[] = []; // by chunk number; a large chunk under each of its numbers
  private readonly firsts: number[] = []; // by chunk number: the first number of its chunk
  private used = 0; // octets of the last chunk in use
  private written = 0; // octets of every name ever placed
  private dropped = 0; // of those, octets of names no longer in use

  // `supply`: chunks to use before allocating any (chunkSupply.ts).
  constructor(private readonly supply?: () => Buffer | undefined) {}

  chunkOf(address: number): Buffer {
    return this.chunks[address >>> CHUNK_BITS]!;
  }

  offsetOf(address: number): number {
    return address - this.firsts[address >>> CHUNK_BITS]! * CHUNK_SIZE;
  }

  // How many octets reserve() can place at once, the first `length` of them one service's.
  roomFor(length: number): number {
    const room = this.chunks.length === 0 ? 0 : this.chunks[this.chunks.length - 1]!.length - this.used;
    return length <= room ? room : Math.max(CHUNK_SIZE, length);
  }

  // Room for `length` octets of whole services; returns the address of the first octet.
  reserve(length: number): number {
    const last = this.chunks.length - 1;
    if (last >= 0 && this.used + length <= this.chunks[last]!.length) {
      const address = this.firsts[last]! * CHUNK_SIZE + this.used;
      this.used += length;
      this.written += length;
      return address;
    }
    const chunk = (length <= CHUNK_SIZE ? this.supply?.() : undefined) ?? Buffer.allocUnsafe(Math.max(CHUNK_SIZE, length));
    const first = this.chunks.length;
    const numbers = Math.ceil(chunk.length / CHUNK_SIZE);
    if (first + numbers > MAX_CHUNKS) throw new Error('compiled names exceed the arena');
    for (let n = 0; n < numbers; n++) {
      this.chunks.push(chunk);
      this.firsts.push(first);
    }
    this.used = length;
    this.written += length;
    return first * CHUNK_SIZE;
  }

  drop(length: number): void {
    this.dropped += length;
  }

  // Slides the runs of names `spans` ([address, length], in address order)
  // down over what is no longer in use, chunk by chunk, in place, and lets
  // go of the chunks left empty; `moved` learns where each run went.
  compact(spans: [number, number][], moved: (span: number, address: number) => void): void {
    let chunk = 0; // the number of the chunk runs slide into
    let used = 0;
    spans.forEach(([from, length], span) => {
      while (used + length > this.chunks[chunk]!.length) {
        chunk += this.numbersOf(chunk);
        used = 0;
      }
      const to = this.firsts[chunk]! * CHUNK_SIZE + used;
      if (to !== from) this.chunkOf(from).copy(this.chunks[chunk]!, used, this.offsetOf(from), this.offsetOf(from) + length);
      used += length;
      moved(span, to);
    });
    if (this.chunks.length > 0) {
      this.chunks.length = this.firsts.length = chunk + this.numbersOf(chunk);
      this.used = used;
    }
    this.written = spans.reduce((sum, [, length]) => sum + length, 0);
    this.dropped = 0;
  }

  private numbersOf(chunk: number): number {
    return Math.ceil(this.chunks[chunk]!.length / CHUNK_SIZE);
  }

  // Most of what was written is no longer in use: time to copy what is.
  get wasteful(): boolean {
    return this.dropped > CHUNK_SIZE && 2 * this.dropped > this.written;
  }
}
