/**
 * /etc/cplb/agent.json. The shape is the agent's zod schema (src/contract/agent-config.ts): the file is
 * validated with it before it leaves this function, so planner and agent cannot drift apart.
 * Only what cplbctl decides is written; the agent's defaults fill the rest.
 */
import { agentConfigSchema, type AgentConfigInput } from '../contract/agent-config.js';
import type { HealthCheck, MetricsSettings, ProxySettings } from '../config/schema.js';
import {
  KEEPALIVED_CONF,
  METRICS_PORT,
  NOTIFY_FIFO,
  RUN_DIR,
  STATUS_FILE,
  STATUS_SOCKET,
  TRACK_FILE,
} from '../contract/paths.js';

export interface AgentConfigRenderInput {
  /** Host.name: status answers are matched to hosts by it. */
  hostName: string;
  /** cplbctl version, shown in the agent's status. */
  renderedBy?: string;
  /** Absolute path when the facts know it; the agent searches PATH otherwise. */
  keepalivedBinary?: string;
  /** false with disableLoadBalancer: VIP only, no proxy, no iptables rules. */
  proxyEnabled: boolean;
  proxyPort: number;
  upstreams: { address: string; port: number }[];
  healthCheck: HealthCheck;
  limits: ProxySettings;
  metrics: MetricsSettings;
  vips: {
    address: string;
    prefix: number;
    family: 4 | 6;
    apiServerPort: number;
    instanceName: string;
    /** k0s's addressLabel, on IPv6 VIPs whose instance sets it. */
    addressLabel?: number;
  }[];
  iptablesBackend: 'nft' | 'legacy';
}

function agentConfigOf(input: AgentConfigRenderInput): AgentConfigInput {
  const hc = input.healthCheck;
  const config: AgentConfigInput = {
    schemaVersion: 1,
    hostName: input.hostName,
    keepalived: {
      configPath: KEEPALIVED_CONF,
      trackFile: TRACK_FILE,
      notifyFifo: NOTIFY_FIFO,
      pidDir: RUN_DIR,
    },
    proxy: {
      enabled: input.proxyEnabled,
      bindPort: input.proxyPort,
      maxConnections: input.limits.maxConnections,
      idleTimeoutMs: input.limits.idleTimeoutSeconds * 1000,
      upstreams: input.upstreams.map((u) => ({ address: u.address, port: u.port })),
      healthCheck: {
        path: hc.path,
        intervalMs: Math.round(hc.intervalSeconds * 1000),
        timeoutMs: Math.round(hc.timeoutSeconds * 1000),
        fallCount: hc.fallCount,
        riseCount: hc.riseCount,
        ...(hc.clientCertificate !== undefined ? { clientCertificate: hc.clientCertificate } : {}),
        ...(hc.clientKey !== undefined ? { clientKey: hc.clientKey } : {}),
        ...(hc.bearerTokenFile !== undefined ? { bearerTokenFile: hc.bearerTokenFile } : {}),
      },
    },
    vips: input.vips.map((v) => ({ ...v })),
    statusSocket: STATUS_SOCKET,
    statusFile: STATUS_FILE,
    iptables: { backend: input.iptablesBackend },
  };
  // Written only where the cluster file moves it, so an agent.json without it stays byte-identical.
  const { bindAddress, port } = input.metrics;
  if (bindAddress !== '127.0.0.1' || port !== METRICS_PORT) config.metrics = { bindAddress, port };
  if (input.renderedBy) config.renderedBy = input.renderedBy;
  if (input.keepalivedBinary) config.keepalived = { binary: input.keepalivedBinary, ...config.keepalived };
  return config;
}

/** The file's text; throws when the agent's schema would refuse it (a planner bug, not a user error). */
export function renderAgentConfig(input: AgentConfigRenderInput): string {
  const config = agentConfigOf(input);
  const checked = agentConfigSchema.safeParse(config);
  if (!checked.success)
    throw new Error(
      `agent.json for ${input.hostName} does not fit the agent's schema: ${checked.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  return JSON.stringify(config, null, 2) + '\n';
}
