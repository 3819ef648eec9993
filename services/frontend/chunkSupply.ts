// Chunks for the name arena (nameArena.ts) whose memory a helper thread has
// already touched. On the VMs we run on, a process's first touch of a page
// costs about 15 µs (4 ms per MB); a frontend's first snapshot writes 20+ MB
// of compiled names, so the helper, on the other core, takes some 80 ms off
// a cold start. The helper keeps LEAD chunks ready; the arena takes them
// without waiting, and allocates its own when none is.
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';

const LEAD = 4;
const PAGE = 4096; // a write every PAGE octets touches every page, whatever its size

// The helper: each request makes chunks, touches each page, and sends them.
const HELPER = `
const { workerData } = require('node:worker_threads');
const { port, size } = workerData;
port.on('message', (count) => {
  for (let n = 0; n < count; n++) {
    const chunk = new SharedArrayBuffer(size);
    const octets = new Uint8Array(chunk);
    for (let at = 0; at < size; at += ${PAGE}) octets[at] = 0;
    port.postMessage(chunk);
  }
});`;

export class ChunkSupply {
  private readonly helper: Worker;
  private readonly chunks: MessagePort; // from the helper; read only by take()
  private stopped = false;

  // Chunks of `size` octets, LEAD of them asked for at once.
  constructor(size: number) {
    const { port1, port2 } = new MessageChannel();
    this.chunks = port1;
    this.helper = new Worker(HELPER, { eval: true, execArgv: [], workerData: { port: port2, size }, transferList: [port2] });
    this.helper.unref(); // never what keeps the process alive
    this.helper.on('error', () => this.stop()); // no helper: the arena allocates its own
    port1.postMessage(LEAD);
  }

  // A chunk when one is ready (and the helper makes the
  // next), else undefined. Its memory is shared with nobody once taken.
  take = (): Buffer | undefined => {
    if (this.stopped) return undefined;
    const received = receiveMessageOnPort(this.chunks);
    if (!received) return undefined;
    this.chunks.postMessage(1);
    return Buffer.from(received.message as SharedArrayBuffer);
  };

  // Chunks not taken are dropped, and so is the helper.
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.chunks.close();
    void this.helper.terminate();
  }
}
