#!/usr/bin/env node
// The mcsdns command line. Errors are one line on stderr and a non-zero exit:
// 2 for bad usage, 1 for anything that went wrong while running.
import { Command, CommanderError } from 'commander';
import { createLogger } from '../../shared/logger.js';
import { serve, serveSettings, type ServeOptions } from './serve.js';
import { defineSettings, resolveSettings, UsageError } from './settings.js';

const program = new Command('mcsdns')
  .description('DNS for Kubernetes Multi-Cluster Services (clusterset.local), with a replayable history')
  .option('--log-level <level>', 'trace, debug, info, warn, error or silent [env MCSDNS_LOG_LEVEL]')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride()
  .configureOutput({ outputError: (text, write) => write(`mcsdns: ${text.replace(/^error: /, '')}`) });

const serveCmd = defineSettings(
  program
    .command('serve')
    .description('watch every member cluster and answer DNS, all in one process with the embedded event log'),
  serveSettings,
).action(async () => {
  const o = resolveSettings(serveCmd, serveSettings) as unknown as ServeOptions;
  const logger = createLogger(program.opts().logLevel ?? process.env.MCSDNS_LOG_LEVEL ?? 'info');
  const running = await serve(o, logger);
  await untilSignal();
  logger.info('stopping');
  await running.stop();
});
serveCmd.exitOverride();

function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
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
  process.exit(err instanceof UsageError ? 2 : 1);
}
