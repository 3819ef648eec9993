// `mcsdns replay` and `mcsdns audit resolve|history|diff`: questions to the
// event log, embedded (--data-dir) or JetStream (--nats). They only read it.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runAuditDiff, runAuditHistory, runAuditResolve, runReplay } from '../audit/commands.js';
import type { EventLog } from '../../shared/eventLog.js';
import { JetStreamEventLog } from '../../shared/jetstreamEventLog.js';
import type { Logger } from '../../shared/logger.js';
import { connectNats } from '../../shared/nats.js';
import { SqliteEventLog } from '../../shared/sqliteEventLog.js';
import { Stack } from './lifecycle.js';
import { natsOptions } from './natsSettings.js';
import { UsageError, type SettingValues } from './settings.js';

const NATS_CONNECT_TIMEOUT_MS = 10_000;

async function openLog(o: SettingValues, stack: Stack, logger: Logger): Promise<EventLog> {
  if ((o.dataDir === undefined) === (o.nats === undefined)) throw new UsageError('give the event log: --data-dir DIR (embedded) or --nats URL');
  if (o.dataDir !== undefined) {
    const path = join(o.dataDir as string, 'events.db');
    if (!existsSync(path)) throw new UsageError(`no event log at ${path} (is --data-dir the data directory of mcsdns serve?)`);
    const log = SqliteEventLog.open(path);
    stack.add(() => log.close());
    return log;
  }
  const nc = await connectNats({ ...natsOptions(o, 'mcsdns-audit'), signal: AbortSignal.timeout(NATS_CONNECT_TIMEOUT_MS) }, logger);
  stack.add(() => nc.close());
  const log = await JetStreamEventLog.open(nc, { prefix: o.natsPrefix as string, manageStream: false });
  stack.add(() => log.close());
  return log;
}

const out = (text: string) => process.stdout.write(text);
const zone = (o: SettingValues) => (o.zone as string[])[0]!;

// Runs one question against the log and closes it.
async function withLog(o: SettingValues, logger: Logger, question: (log: EventLog) => Promise<void>): Promise<void> {
  const stack = new Stack(logger);
  try {
    await question(await openLog(o, stack, logger));
  } finally {
    await stack.stop();
  }
}

function checkpointDir(o: SettingValues): { checkpointDir?: string } {
  if (o.checkpointDir !== undefined) return { checkpointDir: o.checkpointDir as string };
  const beside = o.dataDir !== undefined ? join(o.dataDir as string, 'checkpoints') : undefined;
  return beside && existsSync(beside) ? { checkpointDir: beside } : {};
}

export function replay(o: SettingValues, logger: Logger): Promise<void> {
  return withLog(o, logger, (log) =>
    runReplay(
      { log, db: o.db as string, to: o.to as string, force: o.force as boolean, ...checkpointDir(o), progress: process.stderr },
      out,
    ),
  );
}

export function auditResolve(o: SettingValues, logger: Logger, [name, type]: string[]): Promise<void> {
  return withLog(o, logger, (log) =>
    runAuditResolve(
      { log, name: name!, ...(type ? { type } : {}), ...(o.at ? { at: o.at as string } : {}), zone: zone(o), ttl: o.ttl as number, json: o.json as boolean, ...checkpointDir(o) },
      out,
    ),
  );
}

export function auditHistory(o: SettingValues, logger: Logger, [target]: string[]): Promise<void> {
  return withLog(o, logger, (log) =>
    runAuditHistory(
      {
        log,
        target: target!,
        ...(o.since ? { since: o.since as string } : {}),
        ...(o.until ? { until: o.until as string } : {}),
        zone: zone(o),
        json: o.json as boolean,
        ...checkpointDir(o),
      },
      out,
    ),
  );
}

export function auditDiff(o: SettingValues, logger: Logger): Promise<void> {
  return withLog(o, logger, (log) => runAuditDiff({ log, from: o.from as string, to: o.to as string, zone: zone(o), json: o.json as boolean, ...checkpointDir(o) }, out));
}
