// A data directory (or a database file) belongs to one process at a time: a
// lock file holding the owner's pid. A lock left by a process that no longer
// runs (SIGKILL, crash) is taken over.
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

// Takes the lock file at `path` for `what` (named in errors); returns the release.
export function lockFile(path: string, what: string): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: 'wx' });
      return () => rmSync(path, { force: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') throw new DataDirError(`cannot lock ${what}: ${code}`);
      const owner = Number.parseInt(readFileSync(path, 'utf8'), 10);
      if (Number.isInteger(owner) && owner !== process.pid && alive(owner)) {
        throw new DataDirError(`${what} is in use by process ${owner}`);
      }
      rmSync(path, { force: true }); // stale: its owner is gone
    }
  }
  throw new DataDirError(`cannot lock ${what}`);
}

export function lockDataDir(dir: string): () => void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new DataDirError(`cannot create data directory ${dir}: ${(err as NodeJS.ErrnoException).code}`);
  }
  return lockFile(join(dir, 'LOCK'), `data directory ${dir}`);
}
