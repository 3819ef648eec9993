// Test-side DNS clients: dns-packet over UDP/TCP sockets, and the real `dig`.
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer, connect } from 'node:net';
import { promisify } from 'node:util';
import dnsPacket from 'dns-packet';

export type Answer = dnsPacket.Packet;

export async function queryUdp(port: number, name: string, type: dnsPacket.RecordType, opts: { host?: string; timeoutMs?: number; id?: number } = {}): Promise<Answer> {
  const id = opts.id ?? Math.floor(Math.random() * 65535);
  const buf = dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name, class: 'IN' }] });
  const sock = createSocket('udp4');
  try {
    return await new Promise<Answer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no UDP answer for ${name} ${type}`)), opts.timeoutMs ?? 2000);
      sock.on('message', (msg) => {
        const p = dnsPacket.decode(msg);
        if (p.id !== id) return;
        clearTimeout(timer);
        resolve(p);
      });
      sock.on('error', reject);
      sock.send(buf, port, opts.host ?? '127.0.0.1');
    });
  } finally {
    sock.close();
  }
}

export async function queryTcp(port: number, name: string, type: dnsPacket.RecordType, host = '127.0.0.1'): Promise<Answer> {
  const buf = dnsPacket.streamEncode({ type: 'query', id: 7, questions: [{ type, name, class: 'IN' }] });
  return new Promise<Answer>((resolve, reject) => {
    const sock = connect(port, host);
    let data = Buffer.alloc(0);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no TCP answer for ${name} ${type}`));
    }, 2000);
    sock.on('connect', () => sock.write(buf));
    sock.on('data', (d) => {
      data = Buffer.concat([data, d]);
      if (data.length >= 2 && data.length >= 2 + data.readUInt16BE(0)) {
        clearTimeout(timer);
        sock.destroy();
        resolve(dnsPacket.streamDecode(data));
      }
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

// Sorted "TYPE data" strings of the answer section, for comparisons.
export function answerStrings(p: Answer): string[] {
  return (p.answers ?? []).map((a) => {
    const data = 'data' in a ? a.data : undefined;
    return `${a.type} ${typeof data === 'object' ? JSON.stringify(data) : String(data)}`;
  }).sort();
}

export function rcode(p: Answer): string {
  return (p as { rcode?: string }).rcode ?? 'NOERROR';
}

const exec = promisify(execFile);

export async function dig(port: number, args: string[]): Promise<string> {
  const { stdout } = await exec('dig', ['@127.0.0.1', '-p', String(port), '+time=2', '+tries=1', ...args]);
  return stdout;
}

// A port free for both UDP and TCP on 127.0.0.1.
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const ok = await new Promise<boolean>((resolve) => {
      const s = createSocket('udp4');
      s.once('error', () => resolve(false));
      s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (ok) return port;
  }
}

export async function eventually<T>(fn: () => Promise<T>, check: (v: T) => boolean, timeoutMs = 10000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (check(last)) return last;
    } catch (err) {
      lastErr = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}; last value ${JSON.stringify(last)}${lastErr ? `; last error ${(lastErr as Error).message}` : ''}`);
}
