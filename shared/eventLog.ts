// The event log: the system of record. Two implementations share this
// interface and one contract test suite: an append-only SQLite table
// (embedded, `serve`) and a JetStream stream (distributed mode).

export interface AppendItem {
  id: string; // idempotency id: appending an id already in the log is a no-op
  cluster: string; // the publishing cluster (the NATS subject token)
  payload: string; // the event as JSON text; the log does not interpret it
}

export interface AppendResult {
  seq: number; // the sequence of the event (the existing one for a duplicate)
  duplicate: boolean;
}

export interface StoredEvent {
  seq: number; // 1, 2, 3, … in append order
  id: string;
  cluster: string;
  time: Date; // when the log accepted it
  payload: string;
}

// What follow() delivers at once: events in order, and how many more the log
// held beyond the last of them when it delivered them (0: the follower is
// caught up), so that a follower can tell a backlog from a trickle.
export interface FollowedBatch {
  events: StoredEvent[]; // never empty
  behind: number;
}

export interface EventLog {
  // Appends in order; all or nothing for one call.
  append(items: AppendItem[]): Promise<AppendResult[]>;
  // Events with seq >= fromSeq, oldest first, at most `limit`.
  read(fromSeq: number, limit: number): Promise<StoredEvent[]>;
  // Batches of events with seq >= fromSeq as they arrive, until the signal aborts.
  follow(fromSeq: number, signal: AbortSignal): AsyncIterable<FollowedBatch>;
  // The first sequence whose time is at or after `time`; undefined when none is.
  seqAtTime(time: Date): Promise<number | undefined>;
  // The newest sequence, 0 when empty.
  lastSeq(): Promise<number>;
  close(): Promise<void>;
}
