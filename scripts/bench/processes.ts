// Child processes of a benchmark: pinned to CPUs, waited for, measured
// through /proc, and stopped.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface Child {
  readonly process: ChildProcess;
  readonly output: string[]; // stdout and stderr lines, the last ones
  stop(): Promise<void>;
}

// `command` on CPUs `cpus` ("0" or "0,1"), with its output kept for errors.
export function spawnPinned(cpus: string, command: string, args: string[], env: NodeJS.ProcessEnv = {}): Child {
  const child = spawn('taskset', ['-c', cpus, command, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const output: string[] = [];
  const keep = (data: string): void => {
    output.push(...data.split('\n').filter((l) => l !== ''));
    if (output.length > 200) output.splice(0, output.length - 200);
  };
  child.stdout!.setEncoding('utf8').on('data', keep);
  child.stderr!.setEncoding('utf8').on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    process: child,
    output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

// `pid` and every process below it.
function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    let children = '';
    try {
      children = readFileSync(`/proc/${out[i]}/task/${out[i]}/children`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    for (const child of children.trim().split(/\s+/)) if (child !== '') out.push(Number(child));
  }
  return out;
}

export interface Memory {
  rssKb: number; // VmRSS of the largest process of the tree
  pssKb: number; // proportional set size summed over the tree: shared pages counted once
}

// taskset execs the command in place, so the spawned pid is the server's.
export function treeMemory(pid: number): Memory {
  let rssKb = 0;
  let pssKb = 0;
  for (const p of processTree(pid)) {
    rssKb = Math.max(rssKb, kbField(`/proc/${p}/status`, 'VmRSS'));
    pssKb += kbField(`/proc/${p}/smaps_rollup`, 'Pss');
  }
  return { rssKb, pssKb };
}

function kbField(path: string, field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(path, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}
