// `mcsdns frontend`: answers DNS from the view it follows over NATS. It needs
// nothing but read access to NATS: no database, no Kubernetes credentials.
import type { Logger } from '../../shared/logger.js';
import { connectNats } from '../../shared/nats.js';
import { NatsViewFeed } from '../../shared/viewDistribution.js';
import { Stack, type Running } from './lifecycle.js';
import { Observability, stalenessCheck } from './observability.js';
import { natsOptions, natsSettings } from './natsSettings.js';
import { dnsListenSetting, dnsOptionSettings, httpListenSetting, ttlSetting, zoneSetting } from './commonSettings.js';
import { startFrontend } from './components.js';
import { parseDuration, type ListenAddress, type Setting, type SettingValues } from './settings.js';

export const frontendSettings: Setting[] = [
  zoneSetting,
  dnsListenSetting,
  ttlSetting,
  httpListenSetting,
  ...dnsOptionSettings,
  { flag: 'max-staleness', arg: 'duration', describe: 'not ready (/readyz) when the aggregator has not been heard from for this long; answers go on', parse: parseDuration, default: parseDuration('30s') },
  ...natsSettings(true),
];

export async function runFrontend(o: SettingValues, logger: Logger): Promise<Running> {
  const nats = natsOptions(o, 'mcsdns-frontend');
  const obs = new Observability();
  return new Stack(logger).build(async (stack) => {
    await obs.serve(stack, o.httpListen as ListenAddress | undefined, logger);
    const nc = await connectNats(nats, logger.child({ service: 'nats' }));
    stack.add(() => nc.close());
    const feed = await NatsViewFeed.start(nc, { prefix: o.natsPrefix as string }, logger.child({ service: 'feed' }));
    stack.add(() => feed.stop());
    obs.check('view feed', stalenessCheck(() => feed.stalenessMs, o.maxStaleness as number));
    const frontend = await startFrontend(feed, o, obs, stack, logger);
    logger.info({ dns: frontend.address, zones: o.zone, version: frontend.version }, 'mcsdns frontend running');
  });
}
