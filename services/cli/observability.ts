// One metrics registry and one list of readiness checks per process, served
// on --http-listen (started first, so /healthz answers while the rest starts).
import { startHttpServer, type HttpServerOptions, type Readiness, type ReadinessCheck } from '../../shared/httpServer.js';
import type { Logger } from '../../shared/logger.js';
import { createRegistry, type Registry } from '../../shared/metrics.js';
import type { Stack } from './lifecycle.js';
import type { ListenAddress } from './settings.js';

export class Observability {
  private made: Registry | undefined;
  private readonly checks: ReadinessCheck[] = [];
  private routes: HttpServerOptions['routes'];

  // Made when first asked for (a scrape, a service's metrics): loading
  // prom-client waits until then.
  get registry(): Registry {
    return (this.made ??= createRegistry());
  }

  // Serves further HTTP routes next to /healthz, /readyz and /metrics.
  route(routes: NonNullable<HttpServerOptions['routes']>): void {
    this.routes = routes;
  }

  check(name: string, ready: () => Readiness): void {
    this.checks.push({ name, ready });
  }

  async serve(stack: Stack, listen: ListenAddress | undefined, logger: Logger): Promise<void> {
    if (!listen) return;
    const registry = (): Registry => this.registry;
    const http = await startHttpServer(listen, {
      get registry() {
        return registry(); // per scrape, not now
      },
      checks: this.checks,
      logger: logger.child({ service: 'http' }),
      routes: (req, res) => this.routes?.(req, res) ?? Promise.resolve(false),
    });
    stack.add(() => http.stop());
    logger.info({ address: http.address }, 'HTTP /healthz, /readyz and /metrics listening');
  }
}

// A feed that has not heard from the aggregator for too long is not ready;
// it keeps answering from its last view meanwhile.
export function stalenessCheck(stalenessMs: () => number | undefined, maxMs: number): () => Readiness {
  return () => {
    const ms = stalenessMs();
    if (ms === undefined) return { ok: false, reason: 'has not heard from the aggregator yet' };
    if (ms > maxMs) return { ok: false, reason: `last heard from the aggregator ${Math.round(ms / 1000)} s ago` };
    return { ok: true };
  };
}
