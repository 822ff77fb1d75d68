/** Prometheus text metrics, rendered from the same status document the socket serves. */
import http from 'node:http';
import { errorText, type Logger } from './log.js';
import { agentVersionText, type AgentStatus } from '../contract/status.js';
import { hostPort } from '../contract/net.js';

type Labels = Record<string, string>;

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(
    ([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`,
  );
  return parts.length ? `{${parts.join(',')}}` : '';
}

class MetricWriter {
  private out: string[] = [];
  metric(name: string, type: 'gauge' | 'counter', help: string, samples: Array<[Labels, number]>): void {
    this.out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) this.out.push(`${name}${labelText(labels)} ${value}`);
  }
  text(): string {
    return this.out.join('\n') + '\n';
  }
}

const VRRP_STATES = ['MASTER', 'BACKUP', 'FAULT', 'STOP', 'UNKNOWN'];
const bool = (b: boolean) => (b ? 1 : 0);

/** What the process costs, read at scrape time (the names prom-client's defaults use). */
export interface ProcessFigures {
  residentBytes: number;
  cpuSeconds: number;
  startTimeSeconds: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
  externalBytes: number;
}

function processFigures(): ProcessFigures {
  const m = process.memoryUsage();
  const cpu = process.cpuUsage();
  return {
    residentBytes: m.rss,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    startTimeSeconds: Math.round(Date.now() / 1000 - process.uptime()),
    heapUsedBytes: m.heapUsed,
    heapTotalBytes: m.heapTotal,
    externalBytes: m.external + m.arrayBuffers,
  };
}

function processMetrics(w: MetricWriter, p: ProcessFigures): void {
  const one = (name: string, type: 'gauge' | 'counter', help: string, value: number) =>
    w.metric(name, type, help, [[{}, value]]);
  one('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.', p.residentBytes);
  one('process_cpu_seconds_total', 'counter', 'User and system CPU time spent in seconds.', p.cpuSeconds);
  one(
    'process_start_time_seconds',
    'gauge',
    'Start time of the process since the epoch.',
    p.startTimeSeconds,
  );
  one('nodejs_heap_size_used_bytes', 'gauge', 'V8 heap in use.', p.heapUsedBytes);
  one('nodejs_heap_size_total_bytes', 'gauge', 'V8 heap reserved.', p.heapTotalBytes);
  one('nodejs_external_memory_bytes', 'gauge', 'Memory outside the V8 heap (Buffers).', p.externalBytes);
}

export function renderMetrics(s: AgentStatus, proc?: ProcessFigures): string {
  const w = new MetricWriter();
  w.metric('cplb_agent_info', 'gauge', 'Agent version and config hash.', [
    [{ version: agentVersionText(s.agent), config_hash: s.agent.configHash, host: s.agent.hostName }, 1],
  ]);
  w.metric('cplb_agent_uptime_seconds', 'gauge', 'Seconds since the agent started.', [
    [{}, s.agent.uptimeSeconds],
  ]);
  w.metric('cplb_node_healthy', 'gauge', '1 when this node may hold the VIP (track file 0).', [
    [{}, bool(s.health.ok)],
  ]);
  w.metric('cplb_node_drained', 'gauge', '1 while `cplbctl drain` keeps this node from holding the VIP.', [
    [{}, bool(s.health.drained === true)],
  ]);
  w.metric('cplb_keepalived_up', 'gauge', '1 while the supervised keepalived runs.', [
    [{}, bool(s.keepalived.running)],
  ]);
  w.metric('cplb_keepalived_restarts_total', 'counter', 'keepalived restarts after it died.', [
    [{}, s.keepalived.restarts],
  ]);
  w.metric(
    'cplb_keepalived_consecutive_failures',
    'gauge',
    'keepalived exits in a row without a stable (30 s) run between them: the restart backoff step.',
    [[{}, s.keepalived.consecutiveFailures ?? 0]],
  );
  w.metric(
    'cplb_keepalived_next_restart_seconds',
    'gauge',
    'Seconds until the agent starts keepalived again (0 when no restart is pending).',
    [
      [
        {},
        s.keepalived.nextRestartAt
          ? Math.max(0, (Date.parse(s.keepalived.nextRestartAt) - Date.now()) / 1000)
          : 0,
      ],
    ],
  );
  w.metric('cplb_keepalived_foreign_processes', 'gauge', 'keepalived processes not started by the agent.', [
    [{}, s.keepalived.foreign.length],
  ]);
  w.metric(
    'cplb_vrrp_state',
    'gauge',
    'VRRP state per instance (1 for the current state).',
    // vrrp_instance, not instance: Prometheus gives every scraped series its own `instance` label.
    s.instances.flatMap((i) =>
      VRRP_STATES.map((st): [Labels, number] => [{ vrrp_instance: i.name, state: st }, bool(i.state === st)]),
    ),
  );
  w.metric(
    'cplb_vip_held',
    'gauge',
    '1 when the VIP is on an interface of this node.',
    s.vips.map((v) => [{ address: v.address, vrrp_instance: v.instanceName }, bool(v.held)]),
  );
  w.metric('cplb_proxy_listening', 'gauge', '1 while the proxy listens.', [[{}, bool(s.proxy.listening)]]);
  w.metric('cplb_proxy_open_connections', 'gauge', 'Open proxied connections.', [
    [{}, s.proxy.openConnections],
  ]);
  w.metric('cplb_proxy_max_connections', 'gauge', 'The connection limit (proxy.maxConnections).', [
    [{}, s.proxy.maxConnections ?? 0],
  ]);
  w.metric(
    'cplb_proxy_connections_refused_total',
    'counter',
    'Connections refused at once because the connection limit was reached.',
    [[{ reason: 'limit' }, s.proxy.refusedOverLimit ?? 0]],
  );
  const up = s.proxy.upstreams.map((u) => ({ u, l: { upstream: hostPort(u.address, u.port) } }));
  w.metric(
    'cplb_upstream_healthy',
    'gauge',
    '1 when the upstream passes its health check.',
    up.map(({ u, l }) => [l, bool(u.health === 'healthy')]),
  );
  w.metric(
    'cplb_upstream_active_connections',
    'gauge',
    'Open proxied connections per upstream.',
    up.map(({ u, l }) => [l, u.activeConnections]),
  );
  w.metric(
    'cplb_upstream_connections_total',
    'counter',
    'Proxied connections per upstream.',
    up.map(({ u, l }) => [l, u.totalConnections]),
  );
  w.metric(
    'cplb_upstream_dial_failures_total',
    'counter',
    'Failed dials per upstream (the client was retried on the next).',
    up.map(({ u, l }) => [l, u.failedDials]),
  );
  w.metric(
    'cplb_iptables_rule_present',
    'gauge',
    '1 when the rule was present at the last check.',
    s.iptables.rules.map((r) => [
      { family: `ipv${r.family}`, kind: r.kind, rule: r.description },
      bool(r.present),
    ]),
  );
  w.metric('cplb_iptables_reasserts_total', 'counter', 'Times the rules had to be (re)written.', [
    [{}, s.iptables.reasserts],
  ]);
  w.metric(
    'cplb_iptables_repairs_total',
    'counter',
    'Rules that vanished after being in place (a flush by another tool) and were put back.',
    [[{}, s.iptables.repairs ?? 0]],
  );
  if (proc) processMetrics(w, proc);
  return w.text();
}

/** GET /metrics on the configured address (127.0.0.1 unless the cluster file says otherwise). */
export class MetricsServer {
  private server: http.Server | undefined;

  constructor(
    private readonly bindAddress: string,
    private readonly port: number,
    private readonly snapshot: () => AgentStatus,
    private readonly log: Logger,
  ) {}

  async listen(): Promise<void> {
    const server = http.createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404).end('not found\n');
        return;
      }
      try {
        const body = renderMetrics(this.snapshot(), processFigures());
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(body);
      } catch (err) {
        res.writeHead(500).end(`${errorText(err)}\n`);
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.bindAddress, () => resolve());
    });
    server.on('error', (err) => this.log.error('metrics server failed', { error: errorText(err) }));
    this.server = server;
    this.log.info('metrics listening', { address: this.bindAddress, port: this.port });
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
