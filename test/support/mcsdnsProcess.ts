// The built mcsdns binary as a child process, with its JSON log lines kept
// for assertions and waits.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export const mcsdnsMain = join(process.cwd(), 'dist/bin/mcsdns.js');

export class McsdnsProcess {
  readonly lines: string[] = [];
  private readonly child: ChildProcess;
  private readonly exit: Promise<number | null>;
  private waiters: { re: RegExp; resolve: (line: string) => void }[] = [];

  constructor(
    readonly name: string,
    args: string[],
    env: NodeJS.ProcessEnv = {},
  ) {
    this.child = spawn(process.execPath, [mcsdnsMain, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, MCSDNS_LOG_LEVEL: 'info', ...env },
    });
    let partial = '';
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      partial += d;
      const parts = partial.split('\n');
      partial = parts.pop()!;
      for (const line of parts) this.onLine(line);
    });
    this.child.stdout!.resume();
    this.exit = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  private onLine(line: string): void {
    this.lines.push(line);
    if (this.lines.length > 5000) this.lines.shift();
    this.waiters = this.waiters.filter((w) => {
      if (!w.re.test(line)) return true;
      w.resolve(line);
      return false;
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  // Resolves with the first log line (already seen or to come) matching `re`.
  waitForLine(re: RegExp, timeoutMs = 15000): Promise<string> {
    const seen = this.lines.find((l) => re.test(l));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no log line matching ${re} within ${timeoutMs} ms; last lines:\n${this.lines.slice(-10).join('\n')}`)), timeoutMs);
      const exitWatch = this.exit.then((code) => reject(new Error(`${this.name} exited (${code}) before logging ${re}:\n${this.lines.slice(-10).join('\n')}`)));
      void exitWatch;
      this.waiters.push({
        re,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      });
    });
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.running) this.child.kill(signal);
    return this.exit;
  }

  exited(): Promise<number | null> {
    return this.exit;
  }
}
