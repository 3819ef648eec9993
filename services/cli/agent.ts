// `mcsdns agent`: watches one member cluster and publishes its change events
// to the JetStream event log. It needs Kubernetes read access and NATS
// permission to publish its own cluster's subject, nothing else.
import { JetStreamEventLog } from '../../shared/jetstreamEventLog.js';
import type { Logger } from '../../shared/logger.js';
import { connectNats } from '../../shared/nats.js';
import { Stack, type Running } from './lifecycle.js';
import { Observability } from './observability.js';
import { natsOptions } from './natsSettings.js';
import { UsageError, type ListenAddress, type SettingValues } from './settings.js';
import { agentMetrics } from '../../shared/metrics.js';

export async function runAgent(o: SettingValues, logger: Logger): Promise<Running> {
  const clusterId = o.clusterId as string;
  if (o.inCluster && o.kubeconfig !== undefined) throw new UsageError('give either --kubeconfig or --in-cluster, not both');
  if (!o.inCluster && o.kubeconfig === undefined) throw new UsageError('--kubeconfig or --in-cluster is required');
  if (o.inCluster && o.context !== undefined) throw new UsageError('--context goes with --kubeconfig');
  // The Kubernetes client takes about a second to load: only the commands that watch clusters pay for it.
  const { Agent, eventLogSink, loadKubeConfig } = await loadAgent();
  const kubeConfig = loadKubeConfig(
    o.inCluster ? { inCluster: true } : { kubeconfig: o.kubeconfig as string, ...(o.context !== undefined ? { context: o.context as string } : {}) },
  );
  const nats = natsOptions(o, `mcsdns-agent-${clusterId}`);

  const obs = new Observability();
  return new Stack(logger).build(async (stack) => {
    await obs.serve(stack, o.httpListen as ListenAddress | undefined, logger);
    const nc = await connectNats(nats, logger.child({ service: 'nats' }));
    stack.add(() => nc.close());
    // Agents only publish: the aggregator owns the stream.
    const log = await JetStreamEventLog.open(nc, { prefix: o.natsPrefix as string, manageStream: false });
    stack.add(() => log.close());
    const agent = new Agent({
      clusterId,
      kubeConfig,
      noEndpoints: o.noEndpoints as boolean,
      sink: eventLogSink(log),
      logger: logger.child({ service: 'agent', cluster: clusterId }),
      metrics: agentMetrics(obs.registry),
    });
    obs.check(`agent ${clusterId}`, () => agent.readiness());
    await agent.start();
    stack.add(() => agent.stop());
    logger.info({ cluster: clusterId }, 'mcsdns agent running');
  });
}

export async function loadAgent() {
  const [agent, kubeconfig] = await Promise.all([import('../agent/agent.js'), import('../agent/kubeconfig.js')]);
  return { Agent: agent.Agent, eventLogSink: agent.eventLogSink, loadKubeConfig: kubeconfig.loadKubeConfig };
}
