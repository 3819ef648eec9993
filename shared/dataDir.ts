// A data directory belongs to one process at a time: a lock file holding the
// owner's pid. A lock left by a process that no longer runs (SIGKILL, crash)
// is taken over.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export class DataDirError extends Error {}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function lockDataDir(dir: string): () => void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new DataDirError(`cannot create data directory ${dir}: ${(err as NodeJS.ErrnoException).code}`);
  }
  const path = join(dir, 'LOCK');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: 'wx' });
      return () => rmSync(path, { force: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') throw new DataDirError(`cannot lock data directory ${dir}: ${code}`);
      const owner = Number.parseInt(readFileSync(path, 'utf8'), 10);
      if (Number.isInteger(owner) && owner !== process.pid && alive(owner)) {
        throw new DataDirError(`data directory ${dir} is in use by process ${owner}`);
      }
      rmSync(path, { force: true }); // stale: its owner is gone
    }
  }
  throw new DataDirError(`cannot lock data directory ${dir}`);
}
