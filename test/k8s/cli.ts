// Runs the stand-in Kubernetes API server as a process: prints its URL, serves until SIGINT/SIGTERM.
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { parseAllDocuments } from 'yaml';
import { StandInApiServer } from './apiServer.js';

interface CliOptions {
  port: number;
  kubeconfig?: string;
  token?: string;
  context?: string;
  objects?: string;
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) throw new InvalidArgumentError('not a port number (0-65535)');
  return port;
}

// A file may hold one object, an array of objects, a `kind: List` with items, or several YAML documents.
function objectsFromText(text: string): object[] {
  return parseAllDocuments(text).flatMap((document) => {
    if (document.errors.length > 0) throw new Error(document.errors[0]!.message);
    const value: unknown = document.toJS();
    if (value === null || value === undefined) return [];
    if (Array.isArray(value)) return value as object[];
    if (typeof value !== 'object') throw new Error('expected Kubernetes objects, found a scalar');
    const items = (value as { items?: unknown }).items;
    return Array.isArray(items) ? (items as object[]) : [value];
  });
}

async function serve(options: CliOptions): Promise<void> {
  const server = await StandInApiServer.start({ port: options.port, ...(options.token ? { tokens: [options.token] } : {}) });
  const stop = (): void => {
    void server.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  if (options.objects) {
    for (const object of objectsFromText(readFileSync(options.objects, 'utf8'))) server.upsert(object);
  }
  if (options.kubeconfig) server.writeKubeconfig(options.kubeconfig, { context: options.context });
  process.stdout.write(`${server.url}\n`);
}

const program = new Command('standin-apiserver')
  .description('A stand-in Kubernetes API server (list/watch of ServiceImports, EndpointSlices, Namespaces) for tests and demos')
  .option('--port <n>', 'port on 127.0.0.1 (0 = any free port)', parsePort, 0)
  .option('--kubeconfig <path>', 'write a kubeconfig for this server to PATH')
  .option('--token <token>', 'require this bearer token (and put it in the kubeconfig)')
  .option('--context <name>', 'context name in the written kubeconfig')
  .option('--objects <file>', 'YAML or JSON file of objects to load at start')
  .exitOverride()
  .configureOutput({ outputError: (message, write) => write(message.split('\n')[0] + '\n') });

try {
  program.parse();
} catch (error) {
  // Help and version exit 0; any usage error has already been printed on one line.
  process.exit(error instanceof CommanderError && error.exitCode === 0 ? 0 : 2);
}

serve(program.opts<CliOptions>()).catch((error: unknown) => {
  process.stderr.write(`standin-apiserver: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
