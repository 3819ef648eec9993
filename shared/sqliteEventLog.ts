// The embedded event log: an append-only SQLite table, for `serve` (one
// process, no server to run). Other processes may append to the same file;
// followers see those appends by polling.
import Database from 'better-sqlite3';
import type { AppendItem, AppendResult, EventLog, FollowedBatch, StoredEvent } from './eventLog.js';

type Db = Database.Database;

// Opens (creating when absent) a SQLite database in WAL mode and brings its
// schema to migrations.length (PRAGMA user_version counts the applied ones).
// Errors become one line naming the file: `cannot open <what> <path>: <why>`.
export function openSqlite(path: string, what: string, migrations: readonly string[]): Db {
  let db: Db | undefined;
  try {
    db = new Database(path, { timeout: 5000 });
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    migrate(db, migrations);
    return db;
  } catch (err) {
    db?.close();
    const why = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ');
    throw new Error(`cannot open ${what} ${path}: ${why}`);
  }
}

function migrate(db: Db, migrations: readonly string[]): void {
  db.transaction(() => {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > migrations.length) {
      throw new Error(`schema version ${version} is newer than this program's ${migrations.length}`);
    }
    for (let v = version; v < migrations.length; v++) db.exec(migrations[v]!);
    db.pragma(`user_version = ${migrations.length}`);
  }).immediate();
}

const MIGRATIONS = [
  `CREATE TABLE events (
     seq INTEGER PRIMARY KEY,
     id TEXT NOT NULL UNIQUE,
     cluster TEXT NOT NULL,
     time INTEGER NOT NULL, -- ms since the epoch; never decreases along seq
     payload TEXT NOT NULL
   );
   CREATE INDEX events_time ON events (time);`,
];

export interface SqliteEventLogOptions {
  pollIntervalMs?: number; // how often a waiting follower looks for other processes' appends
  followBatchSize?: number; // most events in one batch from follow
  clock?: () => number; // ms since the epoch, stamped on appends; tests script a timeline with it
}

type EventRow = [seq: number, id: string, cluster: string, time: number, payload: string];

export class SqliteEventLog implements EventLog {
  private readonly insert;
  private readonly seqOfId;
  private readonly lastTime;
  private readonly readFrom;
  private readonly firstAtTime;
  private readonly newest;
  private readonly appendAll;
  private readonly wakers = new Set<() => void>();
  private closed = false;

  private constructor(
    private readonly db: Db,
    private readonly pollIntervalMs: number,
    private readonly followBatchSize: number,
    private readonly clock: () => number,
  ) {
    this.insert = db.prepare<[string, string, number, string], { seq: number }>(
      'INSERT INTO events (id, cluster, time, payload) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING RETURNING seq',
    );
    this.seqOfId = db.prepare<[string], number>('SELECT seq FROM events WHERE id = ?').pluck();
    this.lastTime = db.prepare<[], number>('SELECT time FROM events ORDER BY seq DESC LIMIT 1').pluck();
    // Rows as arrays: better-sqlite3 builds them faster than objects, and each becomes a StoredEvent anyway.
    this.readFrom = db
      .prepare<[number, number], EventRow>('SELECT seq, id, cluster, time, payload FROM events WHERE seq >= ? ORDER BY seq LIMIT ?')
      .raw();
    this.firstAtTime = db.prepare<[number], number>(
      'SELECT seq FROM events WHERE time >= ? ORDER BY time, seq LIMIT 1',
    ).pluck();
    this.newest = db.prepare<[], number>('SELECT seq FROM events ORDER BY seq DESC LIMIT 1').pluck();
    this.appendAll = db.transaction((items: AppendItem[]): AppendResult[] => {
      // One time per call, never before the previous event's: seqAtTime is one index seek.
      const time = Math.max(this.clock(), this.lastTime.get() ?? 0);
      return items.map((item) => {
        const inserted = this.insert.get(item.id, item.cluster, time, item.payload);
        if (inserted) return { seq: inserted.seq, duplicate: false };
        return { seq: this.seqOfId.get(item.id)!, duplicate: true };
      });
    });
  }

  static open(path: string, options: SqliteEventLogOptions = {}): SqliteEventLog {
    const db = openSqlite(path, 'event log', MIGRATIONS);
    return new SqliteEventLog(db, options.pollIntervalMs ?? 500, options.followBatchSize ?? 1000, options.clock ?? Date.now);
  }

  async append(items: AppendItem[]): Promise<AppendResult[]> {
    this.assertOpen();
    items.forEach(checkItem);
    if (items.length === 0) return [];
    const results = this.appendAll.immediate(items);
    if (results.some((r) => !r.duplicate)) this.wakeFollowers();
    return results;
  }

  async read(fromSeq: number, limit: number): Promise<StoredEvent[]> {
    this.assertOpen();
    return this.readNow(fromSeq, limit);
  }

  async *follow(fromSeq: number, signal: AbortSignal): AsyncGenerator<FollowedBatch> {
    let next = fromSeq;
    while (!signal.aborted) {
      this.assertOpen();
      const events = this.readNow(next, this.followBatchSize);
      const last = events[events.length - 1];
      if (last) {
        next = last.seq + 1;
        // A short read found the end of the log; only a full one asks where the end is.
        const behind = events.length < this.followBatchSize ? 0 : Math.max(0, (this.newest.get() ?? 0) - last.seq);
        yield { events, behind };
      } else {
        await this.nextAppend(signal);
      }
    }
  }

  async seqAtTime(time: Date): Promise<number | undefined> {
    this.assertOpen();
    return this.firstAtTime.get(time.getTime());
  }

  async lastSeq(): Promise<number> {
    this.assertOpen();
    return this.newest.get() ?? 0;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
    this.wakeFollowers();
  }

  private readNow(fromSeq: number, limit: number): StoredEvent[] {
    if (limit <= 0) return [];
    return this.readFrom.all(fromSeq, limit).map(([seq, id, cluster, time, payload]) => ({ seq, id, cluster, time: new Date(time), payload }));
  }

  // Resolves on an append through this object, after the poll interval (for
  // other writers), or on abort; leaves no timer or listener behind.
  private nextAppend(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', wake);
        this.wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, this.pollIntervalMs);
      signal.addEventListener('abort', wake);
      this.wakers.add(wake);
    });
  }

  private wakeFollowers(): void {
    for (const wake of [...this.wakers]) wake();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('event log is closed');
  }
}

// Checked before anything is written, so a bad item fails the whole call.
function checkItem(item: AppendItem, index: number): void {
  for (const field of ['id', 'cluster'] as const) {
    if (typeof item[field] !== 'string' || item[field] === '') {
      throw new Error(`append: item ${index} needs a non-empty ${field}`);
    }
  }
  if (typeof item.payload !== 'string') throw new Error(`append: item ${index} needs a string payload`);
}
