// `mcsdns agent`: watches one member cluster and publishes its change events
// to the JetStream event log. It needs Kubernetes read access and NATS
// permission to publish its own cluster's subject, nothing else.
import { isClusterId } from '../../shared/events.js';
import { JetStreamEventLog } from '../../shared/jetstreamEventLog.js';
import type { Logger } from '../../shared/logger.js';
import { connectNats } from '../../shared/nats.js';
import { Stack, type Running } from './lifecycle.js';
import { Observability } from './observability.js';
import { natsOptions, natsSettings } from './natsSettings.js';
import { httpListenSetting, noEndpointsSetting } from './commonSettings.js';
import { UsageError, type ListenAddress, type Setting, type SettingValues } from './settings.js';
import { agentMetrics } from '../../shared/metrics.js';

export const agentSettings: Setting[] = [
  {
    flag: 'cluster-id',
    arg: 'id',
    describe: 'id of the member cluster: an RFC 1123 label (it becomes a DNS label and a NATS subject token)',
    required: true,
    parse: (v) => {
      if (!isClusterId(v)) throw new UsageError(`cluster id ${JSON.stringify(v)} is not an RFC 1123 label (lower-case letters, digits and '-', at most 63)`);
      return v;
    },
  },
  { flag: 'kubeconfig', arg: 'path', describe: 'kubeconfig file of the cluster' },
  { flag: 'context', arg: 'name', describe: 'context of the kubeconfig to use (default: its current context)' },
  { flag: 'in-cluster', describe: 'use the service account of the pod the agent runs in', default: false },
  noEndpointsSetting,
  httpListenSetting,
  ...natsSettings(true),
];

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
