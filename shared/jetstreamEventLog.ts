// The distributed event log: a JetStream stream with one subject per cluster
// (`<prefix>.events.<cluster>`), deduplicated by Nats-Msg-Id. Agents publish;
// the aggregator owns the stream's configuration and reads it in order.
import { setTimeout as sleep } from 'node:timers/promises';
import {
  JetStreamApiCodes,
  JetStreamApiError,
  PubHeaders,
  jetstream,
  jetstreamManager,
  type Consumer,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type StreamConfig,
} from '@nats-io/jetstream';
import {
  PermissionViolationError,
  createInbox,
  headers,
  millis,
  nanos,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type QueuedIterator,
  type Status,
  type Subscription,
} from '@nats-io/transport-node';
import type { AppendItem, AppendResult, EventLog, FollowedBatch, StoredEvent } from './eventLog.js';
import { silentLogger, type Logger } from './logger.js';

export interface JetStreamLogOptions {
  prefix?: string; // default 'mcsdns': subjects '<prefix>.events.<cluster>', stream '<PREFIX>_EVENTS'
  retentionMs?: number; // max age, default 30 days (audits)
  duplicateWindowMs?: number; // default 2 minutes (JetStream dedup by Nats-Msg-Id)
  replicas?: number; // default 1; 3 for a NATS cluster
  manageStream?: boolean; // default true: create and verify the stream; false (agents): only publish
  timeoutMs?: number; // JetStream API requests and publish acknowledgements, default 5 s
  logger?: Logger;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const READ_WAIT_MS = 5000; // a read's pull request outlives the transfer of what it counted
const FOLLOW_WAIT_MS = 10_000; // a follower's pull waits this long for new events (a lost consumer shows after as long)
const PULL_GRACE_MS = 5000; // how much longer than its expiry a pull may take before it counts as lost
const FOLLOW_PULL = 1000; // most events one follower pull asks for (bounds its memory)
const FOLLOW_RETRY_MS = [250, 1000, 5000];
// Most publishes in flight at once: a window breaks where another agent's event
// comes between two of its own, and what it sent after that is sent again.
const PUBLISH_WINDOW = 100;
const WRONG_LAST_MSG_ID = 10070; // JetStream's error when the stream's last message is not the expected one

export function eventsSubject(prefix: string, cluster: string): string {
  if (!isSubjectToken(cluster)) throw new Error(`cluster ${JSON.stringify(cluster)} is not a NATS subject token`);
  return `${prefix}.events.${cluster}`;
}

export function streamName(prefix: string, what: string): string {
  return `${prefix}_${what}`.toUpperCase().replace(/[-.]/g, '_');
}

function isSubjectToken(s: string): boolean {
  return typeof s === 'string' && /^[^\s.*>]+$/.test(s);
}

interface StreamSettings {
  name: string;
  subjects: string[];
  maxAgeMs: number;
  duplicateWindowMs: number;
  replicas: number;
}

function settingsFrom(prefix: string, opts: JetStreamLogOptions): StreamSettings {
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(prefix)) {
    throw new Error(`event log prefix ${JSON.stringify(prefix)} is not a NATS subject prefix (tokens of letters, digits, '-', '_')`);
  }
  const settings = {
    name: streamName(prefix, 'events'),
    subjects: [`${prefix}.events.*`],
    maxAgeMs: opts.retentionMs ?? 30 * DAY_MS,
    duplicateWindowMs: opts.duplicateWindowMs ?? 2 * 60 * 1000,
    replicas: opts.replicas ?? 1,
  };
  if (!(settings.maxAgeMs > 0 && settings.duplicateWindowMs > 0 && settings.duplicateWindowMs <= settings.maxAgeMs)) {
    throw new Error('event log: retention and duplicate window must be positive, the window no longer than the retention');
  }
  if (!Number.isInteger(settings.replicas) || settings.replicas < 1 || settings.replicas > 5) {
    throw new Error(`event log: replicas must be 1 to 5, not ${settings.replicas}`);
  }
  return settings;
}

export class JetStreamEventLog implements EventLog {
  private readonly followers = new Set<() => void>();
  private appending: Promise<unknown> = Promise.resolve();
  private inbox: AckInbox | undefined;
  private closed = false;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly prefix: string,
    private readonly stream: string,
    private readonly timeoutMs: number,
    private readonly logger: Logger,
  ) {}

  static async open(nc: NatsConnection, opts: JetStreamLogOptions = {}): Promise<JetStreamEventLog> {
    const prefix = opts.prefix ?? 'mcsdns';
    const settings = settingsFrom(prefix, opts);
    const timeout = opts.timeoutMs ?? 5000;
    const logger = opts.logger ?? silentLogger;
    // checkAPI off: an agent may lack permission for the account-info request.
    const jsm = await jetstreamManager(nc, { checkAPI: false, timeout });
    if (opts.manageStream ?? true) await ensureStream(jsm, settings, logger);
    return new JetStreamEventLog(nc, jetstream(nc, { timeout }), jsm, prefix, settings.name, timeout, logger);
  }

  // JetStream has no multi-message transaction. Items are published in
  // windows, all of a window in flight at once; each but the window's first
  // expects its predecessor's id as the stream's last message, so the server
  // stores an item only right after the one before it (a duplicate it just
  // acknowledges). Whatever fails, what is stored of a call is a prefix of it,
  // in order, and the publisher's retry with the same ids completes it, which
  // dedup (Nats-Msg-Id) makes safe within the duplicate window.
  async append(items: AppendItem[]): Promise<AppendResult[]> {
    this.assertOpen();
    const maxPayload = this.nc.info?.max_payload ?? Infinity;
    const subjects = items.map((item, index) => this.checkedSubject(item, items[index - 1], index, maxPayload));
    // Calls take turns so that one call's events stay together, as in the embedded log.
    const run = this.appending.then(async () => {
      const results: AppendResult[] = [];
      while (results.length < items.length) await this.publishWindow(items, subjects, results);
      return results;
    });
    this.appending = run.catch(() => undefined);
    return run;
  }

  // Publishes from items[results.length] on and adds the acknowledgements to
  // `results`. Stops early, without an error, where another publisher's
  // message came between two items: the next window goes on from there.
  private async publishWindow(items: AppendItem[], subjects: string[], results: AppendResult[]): Promise<void> {
    const start = results.length;
    const window = this.sendWindow(items, subjects, start, Math.min(items.length, start + PUBLISH_WINDOW));
    for (const [k, answer] of (await window.answered(this.timeoutMs)).entries()) {
      if (!('reason' in answer)) {
        results.push(answer);
      } else if (k > 0 && answer.errCode === WRONG_LAST_MSG_ID) {
        return; // nothing after it was stored: its predecessor in the chain was not
      } else {
        throw this.publishFailure(subjects[start + k]!, items[start + k]!, answer);
      }
    }
  }

  // Publishes items[start, end) at once, each but the first chained to its
  // predecessor. Plain publishes answered to one inbox: a JetStream request
  // per item (its own headers, timer and error with a stack) was a third of an agent's CPU.
  private sendWindow(items: AppendItem[], subjects: string[], start: number, end: number): AckWindow {
    let i = start;
    try {
      const window = this.ackInbox().expect(subjects.slice(start, end));
      for (; i < end; i++) {
        const hdrs = publishHeaders(this.stream, items[i]!.id, i === start ? undefined : items[i - 1]!.id);
        this.nc.publish(subjects[i]!, items[i]!.payload, { headers: hdrs, reply: window.replyTo(i - start) });
      }
      return window;
    } catch (err) {
      // A closed connection, or a server with a smaller max_payload than the one checked against.
      throw this.publishFailure(subjects[i]!, items[i]!, { reason: oneLine(err) });
    }
  }

  async read(fromSeq: number, limit: number): Promise<StoredEvent[]> {
    this.assertOpen();
    if (limit <= 0) return [];
    return this.withConsumer('read', { opt_start_seq: Math.max(1, fromSeq) }, async (consumer, pending) => {
      const wanted = Math.min(limit, pending);
      if (wanted === 0) return [];
      const events: StoredEvent[] = [];
      for await (const m of await pull(consumer, wanted, READ_WAIT_MS)) events.push(storedEvent(m));
      return events;
    });
  }

  async *follow(fromSeq: number, signal: AbortSignal): AsyncGenerator<FollowedBatch> {
    if (signal.aborted) return;
    this.assertOpen();
    const stop = new AbortController();
    const stopNow = () => stop.abort();
    signal.addEventListener('abort', stopNow);
    this.followers.add(stopNow);
    let next = Math.max(1, fromSeq);
    let failures = 0;
    try {
      while (!stop.signal.aborted) {
        try {
          for await (const batch of this.pulledBatches(next, stop.signal)) {
            next = batch.events[batch.events.length - 1]!.seq + 1;
            failures = 0;
            yield batch;
          }
        } catch (err) {
          if (stop.signal.aborted) break;
          if (this.nc.isClosed()) throw err;
          // Ordered consumers ride out reconnects; this is for what they give up on (a lost node, an election).
          this.logger.warn({ stream: this.stream, next, err: oneLine(err) }, 'following the event log failed; resuming');
          const wait = FOLLOW_RETRY_MS[Math.min(failures++, FOLLOW_RETRY_MS.length - 1)]!;
          await sleep(wait, undefined, { signal: stop.signal }).catch(() => undefined);
        }
      }
    } finally {
      signal.removeEventListener('abort', stopNow);
      this.followers.delete(stopNow);
    }
    if (this.closed && !signal.aborted) throw new Error('event log is closed');
  }

  async seqAtTime(time: Date): Promise<number | undefined> {
    this.assertOpen();
    const start = { opt_start_time: time.toISOString(), headers_only: true };
    return this.withConsumer('seqAtTime', start, async (consumer, pending) => {
      if (pending === 0) return undefined;
      for await (const m of await pull(consumer, 1, READ_WAIT_MS)) return m.seq;
      return undefined;
    });
  }

  async lastSeq(): Promise<number> {
    this.assertOpen();
    try {
      return (await this.jsm.streams.info(this.stream)).state.last_seq;
    } catch (err) {
      throw this.failure('lastSeq', err);
    }
  }

  // Stops followers (they end with an error); the connection belongs to the caller.
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const stop of [...this.followers]) stop();
    await this.appending;
    this.inbox?.close();
  }

  // The log's one subscription for acknowledgements, made again when the connection dropped it.
  private ackInbox(): AckInbox {
    if (this.inbox?.lost) {
      this.inbox.close();
      this.inbox = undefined;
    }
    return (this.inbox ??= new AckInbox(this.nc));
  }

  private checkedSubject(item: AppendItem, predecessor: AppendItem | undefined, index: number, maxPayload: number): string {
    if (typeof item.id !== 'string' || item.id === '') throw new Error(`append: item ${index} needs a non-empty id`);
    if (/[\x00-\x1f\x7f]/.test(item.id) || item.id.trim() !== item.id) {
      throw new Error(`append: item ${index}: id ${JSON.stringify(item.id)} has control characters or surrounding spaces`);
    }
    if (!isSubjectToken(item.cluster)) {
      throw new Error(`append: item ${index}: cluster ${JSON.stringify(item.cluster)} is not a NATS subject token`);
    }
    if (typeof item.payload !== 'string') throw new Error(`append: item ${index} needs a string payload`);
    // Headers (ids of the item and its predecessor, the stream) count towards the server's limit too.
    const ids = Buffer.byteLength(item.id) + Buffer.byteLength(predecessor?.id ?? '');
    const size = Buffer.byteLength(item.payload) + ids + this.stream.length + 80;
    if (size > maxPayload) throw new Error(`append: item ${index} (${item.id}) is ${size} bytes, over the NATS max_payload ${maxPayload}`);
    return eventsSubject(this.prefix, item.cluster);
  }

  private publishFailure(subject: string, item: AppendItem, failure: PublishFailure): Error {
    if (failure.noStream) {
      return new Error(
        `append: no stream answered for ${subject}: stream ${this.stream} does not exist (the aggregator creates it), ` +
          'JetStream is not enabled, or the stream is electing a leader',
      );
    }
    return new Error(`append to ${subject} (id ${item.id}): ${failure.reason}`);
  }

  // Runs `use` with an ordered consumer (created at `start`, with the number
  // of events it will deliver) and deletes the consumer afterwards.
  private async withConsumer<T>(
    what: string,
    start: { opt_start_seq: number } | { opt_start_time: string; headers_only: boolean },
    use: (consumer: Consumer, pending: number) => Promise<T>,
  ): Promise<T> {
    let consumer: Consumer;
    try {
      consumer = await this.js.consumers.get(this.stream, start);
    } catch (err) {
      throw this.failure(what, err);
    }
    try {
      return await use(consumer, (await consumer.info(true)).num_pending);
    } catch (err) {
      throw this.failure(what, err);
    } finally {
      await consumer.delete().catch(() => undefined);
    }
  }

  // Batches from one ordered consumer, one bounded pull after another: the
  // next pull starts once the caller took the previous one's events.
  private async *pulledBatches(from: number, signal: AbortSignal): AsyncGenerator<FollowedBatch> {
    const consumer = await this.js.consumers.get(this.stream, { opt_start_seq: from });
    try {
      while (!signal.aborted) {
        const messages = await pull(consumer, FOLLOW_PULL, FOLLOW_WAIT_MS);
        const stopPull = () => void messages.close();
        signal.addEventListener('abort', stopPull);
        if (signal.aborted) stopPull();
        try {
          // The server tells with each message how many the stream held after it.
          for await (const batch of arrivedTogether(messages)) yield { events: batch.map(storedEvent), behind: batch[batch.length - 1]!.info.pending };
        } finally {
          signal.removeEventListener('abort', stopPull);
          await messages.close();
        }
      }
    } finally {
      // Not awaited: a follower stops at once even when the server is away (the consumer expires anyway).
      consumer.delete().catch(() => undefined);
    }
  }

  private failure(what: string, err: unknown): Error {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) {
      return new Error(`${what}: stream ${this.stream} does not exist`);
    }
    return new Error(`${what} (stream ${this.stream}): ${oneLine(err)}`);
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('event log is closed');
  }
}

// What JetStream answered to one publish: where it stored it, or why not.
type PublishAnswer = AppendResult | PublishFailure;

interface PublishFailure {
  reason: string;
  errCode?: number; // JetStream's error code, when the stream refused it
  noStream?: boolean; // nothing subscribes to the subject
}

function publishHeaders(stream: string, id: string, predecessorId: string | undefined): MsgHdrs {
  const hdrs = headers();
  hdrs.set(PubHeaders.MsgIdHdr, id);
  hdrs.set(PubHeaders.ExpectedStreamHdr, stream);
  if (predecessorId !== undefined) hdrs.set(PubHeaders.ExpectedLastMsgIdHdr, predecessorId);
  return hdrs;
}

// A PubAck is {stream, seq, duplicate?} or {error: {code, err_code, description}};
// an empty reply with status 503 means no stream listens on the subject.
function answerOf(m: Msg): PublishAnswer {
  if (m.data.length === 0 && m.headers?.code === 503) return { reason: 'no responders', noStream: true };
  let ack: { stream?: unknown; seq?: unknown; duplicate?: unknown; error?: { err_code?: number; description?: string } };
  try {
    ack = m.json();
  } catch {
    return { reason: `unreadable acknowledgement ${JSON.stringify(m.string().slice(0, 200))}` };
  }
  if (ack.error) return { reason: ack.error.description ?? JSON.stringify(ack.error), errCode: ack.error.err_code ?? 0 };
  if (typeof ack.stream !== 'string' || typeof ack.seq !== 'number') return { reason: `invalid acknowledgement ${JSON.stringify(ack)}` };
  return { seq: ack.seq, duplicate: ack.duplicate === true };
}

// One subscription takes the acknowledgements of all of a log's publishes,
// each sent to `<inbox>.<token>`. Tokens count up for the inbox's lifetime,
// so an answer that comes after its window was given up on finds no place.
class AckInbox {
  private readonly prefix = createInbox(); // under _INBOX, which an agent's permissions let it subscribe to
  private readonly sub: Subscription;
  private readonly status: QueuedIterator<Status>;
  private window: AckWindow | undefined;
  private nextToken = 0;

  constructor(nc: NatsConnection) {
    this.sub = nc.subscribe(`${this.prefix}.*`, { callback: (err, m) => this.received(err, m) });
    void this.sub.closed.then((err) => this.window?.fail({ reason: err ? oneLine(err) : 'the NATS connection closed' }));
    this.status = nc.status() as QueuedIterator<Status>; // what nats.js returns: stop() lets go of the connection
    void this.failDeniedPublishes();
  }

  // Gone with the connection, or refused by the server: publishes need a new one.
  get lost(): boolean {
    return this.sub.isClosed();
  }

  // The window whose answers this inbox takes from now on, in place of any before.
  expect(subjects: string[]): AckWindow {
    this.window = new AckWindow(subjects, `${this.prefix}.`, this.nextToken);
    this.nextToken += subjects.length;
    return this.window;
  }

  close(): void {
    this.sub.unsubscribe();
    this.status.stop();
  }

  private received(err: Error | null, m: Msg): void {
    const window = this.window;
    if (!window) return;
    if (err) window.fail({ reason: oneLine(err) });
    else window.answer(Number(m.subject.slice(this.prefix.length + 1)) - window.firstToken, answerOf(m));
  }

  // The server answers a publish it denies with an error on the connection, not on the reply subject.
  private async failDeniedPublishes(): Promise<void> {
    for await (const s of this.status) {
      if (s.type === 'error' && s.error instanceof PermissionViolationError && s.error.operation === 'publish') {
        this.window?.fail({ reason: s.error.message }, s.error.subject);
      }
    }
  }
}

// The answers to one window of publishes, by position. The first answer to a
// publish counts; a repeated one is ignored.
class AckWindow {
  private readonly answers: (PublishAnswer | undefined)[];
  private unanswered: number;
  private allAnswered!: () => void;
  private readonly done = new Promise<void>((resolve) => (this.allAnswered = resolve));

  constructor(
    private readonly subjects: string[],
    private readonly replyPrefix: string,
    readonly firstToken: number,
  ) {
    this.answers = new Array<PublishAnswer | undefined>(subjects.length).fill(undefined);
    this.unanswered = subjects.length;
  }

  replyTo(index: number): string {
    return `${this.replyPrefix}${this.firstToken + index}`;
  }

  answer(index: number, answer: PublishAnswer): void {
    if (!(index >= 0 && index < this.answers.length) || this.answers[index] !== undefined) return;
    this.answers[index] = answer;
    if (--this.unanswered === 0) this.allAnswered();
  }

  // Gives every publish not answered yet (to `subject`, when given) this failure.
  fail(failure: PublishFailure, subject?: string): void {
    for (let i = 0; i < this.answers.length; i++) {
      if (subject === undefined || this.subjects[i] === subject) this.answer(i, failure);
    }
  }

  // All answers; those missing after timeoutMs (a publish lost in a disconnect gets none) as failures.
  async answered(timeoutMs: number): Promise<PublishAnswer[]> {
    const timer = setTimeout(() => this.fail({ reason: `no acknowledgement within ${timeoutMs} ms` }), timeoutMs);
    await this.done;
    clearTimeout(timer);
    return this.answers as PublishAnswer[];
  }
}

// One pull request for at most `max` events. A healthy pull ends by itself
// once `expires` passed; one that outlives it is stuck (the ordered consumer
// waits forever for a consumer whose only node died) and ends with an error.
async function pull(consumer: Consumer, max: number, expires: number): Promise<ConsumerMessages> {
  const messages = await consumer.fetch({ max_messages: max, expires });
  const limit = expires + PULL_GRACE_MS;
  const watchdog = setTimeout(() => messages.stop(new Error(`the NATS server did not complete a pull within ${limit} ms`)), limit);
  void messages.closed().finally(() => clearTimeout(watchdog));
  return messages;
}

function storedEvent(m: JsMsg): StoredEvent {
  return {
    seq: m.seq,
    id: m.headers?.get('Nats-Msg-Id') ?? '',
    cluster: m.subject.slice(m.subject.lastIndexOf('.') + 1),
    // From the exact nanoseconds: a float's rounding could move the time to the next millisecond.
    time: new Date(Number(m.timestampNanos / 1_000_000n)),
    payload: m.string(),
  };
}

// Groups what `source` delivered while the caller was busy into one array.
// The client's iterator hands buffered messages out one microtask at a time,
// so a batch is taken only after a macrotask turn has let them all through:
// without it a follower that fell behind got them three at a time.
async function* arrivedTogether<T>(source: AsyncIterable<T>): AsyncGenerator<T[]> {
  const arrived: T[] = [];
  let ended = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  void (async () => {
    try {
      for await (const item of source) {
        arrived.push(item);
        wake?.();
      }
    } catch (err) {
      failure = err;
    } finally {
      ended = true;
      wake?.();
    }
  })();
  for (;;) {
    if (arrived.length === 0 && !ended) await new Promise<void>((resolve) => (wake = resolve));
    wake = undefined;
    await new Promise((resolve) => setImmediate(resolve));
    if (arrived.length > 0) yield arrived.splice(0);
    else if (failure !== undefined) throw failure;
    else if (ended) return;
  }
}

// Creates the stream when missing; accepts an existing one whose subjects,
// storage and retention match, bringing its limits to the settings.
async function ensureStream(jsm: JetStreamManager, want: StreamSettings, logger: Logger): Promise<void> {
  const existing = await streamConfig(jsm, want.name);
  if (!existing) {
    try {
      await jsm.streams.add({
        name: want.name,
        subjects: want.subjects,
        storage: 'file',
        retention: 'limits',
        max_age: nanos(want.maxAgeMs),
        duplicate_window: nanos(want.duplicateWindowMs),
        num_replicas: want.replicas,
      });
    } catch (err) {
      throw new Error(`cannot create stream ${want.name}: ${oneLine(err)}`);
    }
    logger.info({ stream: want.name, subjects: want.subjects, replicas: want.replicas }, 'created the event stream');
    return;
  }
  const mismatches = streamMismatches(existing, want);
  if (mismatches.length > 0) {
    throw new Error(
      `stream ${want.name} exists but cannot hold mcsdns events (${mismatches.join('; ')}): ` +
        `delete it (nats stream rm ${want.name}, losing what it holds) or use another prefix`,
    );
  }
  const { update, changes, shortensRetention } = limitUpdates(existing, want);
  if (changes.length === 0) return;
  try {
    await jsm.streams.update(want.name, update);
  } catch (err) {
    throw new Error(`cannot update stream ${want.name} (${changes.join(', ')}): ${oneLine(err)}`);
  }
  // A shorter max age removes the older events, which audits may have wanted.
  logger[shortensRetention ? 'warn' : 'info']({ stream: want.name, changes }, 'updated the event stream to the configured limits');
}

async function streamConfig(jsm: JetStreamManager, name: string): Promise<StreamConfig | undefined> {
  try {
    return (await jsm.streams.info(name)).config;
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) return undefined;
    throw new Error(`cannot look up stream ${name}: ${oneLine(err)}`);
  }
}

// What no update can make right.
function streamMismatches(have: StreamConfig, want: StreamSettings): string[] {
  const problems: string[] = [];
  const subjects = [...(have.subjects ?? [])].sort();
  if (subjects.join(' ') !== [...want.subjects].sort().join(' ')) {
    problems.push(`subjects are [${subjects.join(', ')}], not [${want.subjects.join(', ')}]`);
  }
  if (have.storage !== 'file') problems.push(`storage is ${have.storage}, not file`);
  if (have.retention !== 'limits') problems.push(`retention is ${have.retention}, not limits`);
  return problems;
}

// The limits an update brings to the settings, and how each changes.
function limitUpdates(have: StreamConfig, want: StreamSettings) {
  const update: Partial<StreamConfig> = {};
  const changes: string[] = [];
  const maxAge = nanos(want.maxAgeMs);
  const window = nanos(want.duplicateWindowMs);
  if (have.max_age !== maxAge) {
    update.max_age = maxAge;
    changes.push(`max_age ${millis(have.max_age)} ms → ${want.maxAgeMs} ms`);
  }
  if (have.duplicate_window !== window) {
    update.duplicate_window = window;
    changes.push(`duplicate_window ${millis(have.duplicate_window)} ms → ${want.duplicateWindowMs} ms`);
  }
  if (have.num_replicas !== want.replicas) {
    update.num_replicas = want.replicas;
    changes.push(`num_replicas ${have.num_replicas} → ${want.replicas}`);
  }
  const shortensRetention = update.max_age !== undefined && (have.max_age === 0 || have.max_age > maxAge);
  return { update, changes, shortensRetention };
}

function oneLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ');
}
