// A list of octet offsets that keeps its room when cleared: compiling clears
// some for every RRset, and an array's `length = 0` lets go of its storage.
export class Offsets {
  private readonly list: number[] = [];
  count = 0;

  push(offset: number): void {
    this.list[this.count++] = offset;
  }

  at(i: number): number {
    return this.list[i]!;
  }

  clear(): void {
    this.count = 0;
  }
}
