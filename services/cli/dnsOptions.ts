// Maps the DNS option settings onto the Frontend's options.
import type { FrontendOptions } from '../frontend/server.js';
import type { ListenAddress, SettingValues } from './settings.js';

export function frontendDnsOptions(o: SettingValues): Partial<FrontendOptions> {
  const out: Partial<FrontendOptions> = {
    startupTimeoutMs: o.startupTimeout as number,
    answers: { rotate: !(o.noRoundRobin as boolean), ...(o.maxEndpoints !== undefined ? { maxEndpoints: o.maxEndpoints as number } : {}) },
  };
  if (o.fallthrough !== undefined) out.fallthrough = { zones: o.fallthrough as string[] };
  if ((o.upstream as ListenAddress[]).length > 0) out.upstreams = o.upstream as ListenAddress[];
  if ((o.allowTransfer as string[]).length > 0) out.allowTransfer = o.allowTransfer as string[];
  return out;
}
