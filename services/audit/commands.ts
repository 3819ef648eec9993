// The audit commands as the CLI runs them: flags in (already split, the log
// already opened), text or JSON out through `out`. Bad input throws one line.
import type { EventLog } from '../../shared/eventLog.js';
import { auditDiff, renderDiff } from './diff.js';
import { auditHistory, parseHistoryTarget, renderHistory } from './history.js';
import { progressReporter, type ProgressOutput } from './progress.js';
import { replayTo } from './replay.js';
import { auditResolve, parseQueryType, renderAnswer } from './resolve.js';
import { AuditInputError, firstEvent, parsePoint, resolvePoint, resolveSince } from './time.js';

export type Write = (text: string) => void;

interface AuditCommon {
  log: EventLog; // from --data-dir (DIR/events.db) or --nats
  now?: Date; // what relative times count from; default the current time
  checkpointDir?: string; // read-model checkpoints to start from instead of seq 0
}

interface ZoneOutput {
  zone: string; // one --zone
  json?: boolean;
}

export interface ReplayCommandOptions extends AuditCommon {
  db: string; // --db: the file to write
  to: string; // --to TIME|SEQ
  force?: boolean;
  progress?: ProgressOutput; // usually process.stderr; absent: no progress
}

export async function runReplay(o: ReplayCommandOptions, out: Write): Promise<void> {
  const point = await resolvePoint(o.log, parsePoint(o.to, o.now ?? new Date()));
  const progress = o.progress && progressReporter(o.progress);
  const result = await replayTo(o.log, o.db, point.seq, {
    force: o.force,
    checkpointDir: o.checkpointDir,
    onProgress: progress && ((done, total) => progress.update(done, total)),
  });
  progress?.finish();
  const from = result.fromCheckpoint === undefined ? 'from seq 0' : `from the checkpoint at seq ${result.fromCheckpoint}`;
  out(`replayed ${from} to seq ${result.lastSeq}${point.time ? ` (${point.time.toISOString()})` : ''} into ${o.db}\n`);
}

export interface ResolveCommandOptions extends AuditCommon, ZoneOutput {
  name: string;
  type?: string; // default A
  at?: string; // --at TIME|SEQ, default now
  ttl: number;
}

export async function runAuditResolve(o: ResolveCommandOptions, out: Write): Promise<void> {
  const type = parseQueryType(o.type);
  const point = await resolvePoint(o.log, parsePoint(o.at ?? 'now', o.now ?? new Date()));
  const answer = await auditResolve(o.log, { name: o.name, type, point, zone: o.zone, ttl: o.ttl }, o.checkpointDir);
  out(o.json ? `${JSON.stringify(answer, null, 2)}\n` : renderAnswer(answer));
}

export interface HistoryCommandOptions extends AuditCommon, ZoneOutput {
  target: string; // NAMESPACE/SERVICE or a name
  since?: string; // inclusive; default the first retained event
  until?: string; // inclusive; default now
}

export async function runAuditHistory(o: HistoryCommandOptions, out: Write): Promise<void> {
  const target = parseHistoryTarget(o.target, o.zone);
  const now = o.now ?? new Date();
  const fromSeq = o.since === undefined ? (await firstEvent(o.log)).seq : await resolveSince(o.log, parsePoint(o.since, now));
  const toSeq = (await resolvePoint(o.log, parsePoint(o.until ?? 'now', now))).seq;
  if (toSeq < fromSeq - 1) throw new AuditInputError(`--until is before --since`);
  const entries = await auditHistory(o.log, target, fromSeq, toSeq, o.zone, o.checkpointDir);
  out(o.json ? `${JSON.stringify(entries, null, 2)}\n` : renderHistory(entries));
}

export interface DiffCommandOptions extends AuditCommon, ZoneOutput {
  from: string; // TIME|SEQ
  to: string; // TIME|SEQ
}

export async function runAuditDiff(o: DiffCommandOptions, out: Write): Promise<void> {
  const now = o.now ?? new Date();
  const from = await resolvePoint(o.log, parsePoint(o.from, now));
  const to = await resolvePoint(o.log, parsePoint(o.to, now));
  const diffs = await auditDiff(o.log, from.seq, to.seq, o.zone, o.checkpointDir);
  out(o.json ? `${JSON.stringify(diffs, null, 2)}\n` : renderDiff(diffs));
}
