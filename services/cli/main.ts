#!/usr/bin/env node
// The mcsdns command line. Errors are one line on stderr and a non-zero exit:
// 2 for bad usage, 1 for anything that went wrong while running.
import { Command, CommanderError } from 'commander';
import { createLogger, type Logger } from '../../shared/logger.js';
import { untilSignal, type Running } from './lifecycle.js';
import { AuditInputError } from '../audit/time.js';
import {
  agentSettings,
  aggregatorSettings,
  auditResolveSettings,
  diffSettings,
  frontendSettings,
  historySettings,
  replaySettings,
  serveSettings,
} from './commandSettings.js';
import { corefileLayer } from './corefileLayer.js';
import type { ServeOptions } from './serve.js';
import { defineSettings, resolveSettings, UsageError, type Setting, type SettingValues } from './settings.js';

const program = new Command('mcsdns')
  .description('DNS for Kubernetes Multi-Cluster Services (clusterset.local), with a replayable history')
  .option('--log-level <level>', 'trace, debug, info, warn, error or silent [env MCSDNS_LOG_LEVEL]')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride()
  .configureOutput({ outputError: (text, write) => write(`mcsdns: ${text.replace(/^error: /, '')}`) });

// A command's code (and what it needs: NATS, SQLite, Kubernetes clients) loads only when it runs.
interface CommandSpec {
  name: string;
  description: string;
  settings: Setting[];
  run: (values: SettingValues, logger: Logger) => Promise<Running>;
  // Settings from a file a setting names (a Corefile), below the config file.
  layer?: (values: SettingValues) => { layer: Record<string, unknown>; warnings: string[] } | undefined;
}

const commands: CommandSpec[] = [
  {
    name: 'serve',
    description: 'watch every member cluster and answer DNS, all in one process (embedded event log, or JetStream with --nats)',
    settings: serveSettings,
    run: async (v, logger) => (await import('./serve.js')).serve(v as unknown as ServeOptions & SettingValues, logger),
    layer: (v) => (v.corefile ? corefileLayer(v.corefile as string) : undefined),
  },
  { name: 'agent', description: 'watch one member cluster and publish its changes to the JetStream event log', settings: agentSettings, run: async (v, logger) => (await import('./agent.js')).runAgent(v, logger) },
  {
    name: 'aggregator',
    description: 'project the JetStream event log into a SQLite read model and publish the DNS view to frontends',
    settings: aggregatorSettings,
    run: async (v, logger) => (await import('./aggregator.js')).runAggregator(v, logger),
  },
  { name: 'frontend', description: 'answer DNS from the view published over NATS (stateless; run as many as needed)', settings: frontendSettings, run: async (v, logger) => (await import('./frontend.js')).runFrontend(v, logger) },
];

const names = commands.map((c) => c.name);
for (const spec of commands) {
  const cmd = defineSettings(program.command(spec.name).description(spec.description), spec.settings);
  cmd.action(async () => {
    let values = resolveSettings(cmd, spec.settings, process.env, names);
    const layered = spec.layer?.(values);
    if (layered) values = resolveSettings(cmd, spec.settings, process.env, names, layered.layer);
    const logger = createLogger(program.opts().logLevel ?? process.env.MCSDNS_LOG_LEVEL ?? 'info');
    for (const warning of layered?.warnings ?? []) logger.warn(warning);
    const running = await spec.run(values, logger);
    await untilSignal();
    logger.info('stopping');
    await running.stop();
  });
}

// One-shot questions: they print their answer and exit; logs only from warnings on.
interface QuestionSpec {
  parent: Command;
  name: string;
  args: string[];
  description: string;
  settings: Setting[];
  run: (values: SettingValues, logger: Logger, args: string[]) => Promise<void>;
}

const audit = program.command('audit').description('ask the event history what DNS answered, when, and why');
const questions: QuestionSpec[] = [
  { parent: program, name: 'replay', args: [], description: 'rebuild the read model as it was at a moment, into a new SQLite file', settings: replaySettings, run: async (v, logger) => (await import('./audit.js')).replay(v, logger) },
  {
    parent: audit,
    name: 'resolve',
    args: ['<name>', '[type]'],
    description: 'the answer mcsdns gave for NAME (TYPE: A, AAAA, SRV, TXT, SOA, NS, ANY; default A) at a moment, and the event that last changed it',
    settings: auditResolveSettings,
    run: async (v, logger, args) => (await import('./audit.js')).auditResolve(v, logger, args),
  },
  {
    parent: audit,
    name: 'history',
    args: ['<target>'],
    description: 'the events that touched NAMESPACE/SERVICE or a name, oldest first, with what changed in the object and in the answers',
    settings: historySettings,
    run: async (v, logger, args) => (await import('./audit.js')).auditHistory(v, logger, args),
  },
  { parent: audit, name: 'diff', args: [], description: 'every name whose answers differ between two moments', settings: diffSettings, run: async (v, logger) => (await import('./audit.js')).auditDiff(v, logger) },
];
for (const q of questions) {
  const cmd = q.parent.command(q.name).description(q.description);
  for (const a of q.args) cmd.argument(a);
  defineSettings(cmd, q.settings);
  cmd.action(async (...params: unknown[]) => {
    const args = params.slice(0, q.args.length).filter((a): a is string => typeof a === 'string');
    const values = resolveSettings(cmd, q.settings, process.env, names);
    const logger = createLogger(program.opts().logLevel ?? process.env.MCSDNS_LOG_LEVEL ?? 'warn');
    await q.run(values, logger, args);
  });
}

try {
  await program.parseAsync(process.argv);
  process.exit(0);
} catch (err) {
  if (err instanceof CommanderError) {
    // commander printed its message already; --help and --version exit 0.
    process.exit(err.exitCode === 0 ? 0 : 2);
  }
  const message = (err as Error).message ?? String(err);
  process.stderr.write(`mcsdns: ${message.split('\n')[0]}\n`);
  process.exit(err instanceof UsageError || err instanceof AuditInputError ? 2 : 1);
}
