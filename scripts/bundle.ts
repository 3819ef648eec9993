// The last step of `npm run build`: bundles the compiled CLI (dist/services)
// into dist/bin, the program the package ships. Node's ES module loader
// resolves, reads and compiles every file of a dependency on its own; a
// bundle holds only the code the CLI imports. Measured: @kubernetes/client-node
// loads in about 180 ms instead of 730 (an agent's start), the NATS client,
// pino and commander in about 70 ms instead of 115 (a frontend's cold start).
//
// One flat directory: the aggregator's worker threads are entry points of
// their own, found next to the code that starts them (new URL(…, import.meta.url)).
// better-sqlite3 loads a native addon and stays in node_modules; so does
// prom-client, which the CLI loads late (createRequire) and which checks its
// registries with instanceof: one copy of it, not two.
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

const OUT = 'dist/bin';

rmSync(OUT, { recursive: true, force: true });
const result = await build({
  entryPoints: {
    mcsdns: 'dist/services/cli/main.js',
    walCheckpointerWorker: 'dist/services/aggregator/walCheckpointerWorker.js',
    checkpointWorker: 'dist/services/aggregator/checkpointWorker.js',
  },
  outdir: OUT,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: 'chunk-[hash]',
  external: ['better-sqlite3', 'prom-client'],
  // CommonJS dependencies inside an ES module bundle still call require().
  banner: { js: "import { createRequire as mcsdnsCreateRequire } from 'node:module'; const require = mcsdnsCreateRequire(import.meta.url);" },
  sourcemap: 'linked',
  logLevel: 'warning',
  metafile: true,
});
const bytes = Object.values(result.metafile.outputs).reduce((sum, output) => sum + output.bytes, 0);
console.log(`bundled the CLI into ${OUT} (${(bytes / 1e6).toFixed(1)} MB with source maps)`);
