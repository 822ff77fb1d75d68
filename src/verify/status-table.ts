/** `cplbctl status` as text: a table with one row per controller, then the lines that explain it. */
import type { ClusterReport, HostReport } from './host-report.js';
import { target } from './tls.js';

export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

export function duration(seconds: number): string {
  if (seconds < 90) return `${Math.round(seconds)}s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)}m`;
  if (seconds < 48 * 3600) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86400)}d`;
}

function keepalivedCell(h: HostReport): string {
  if (!h.keepalived) return '-';
  const states = h.keepalived.instances.map((i) => `${i.name}=${i.state}`).join(',');
  if (!h.keepalived.running) return `not running${states ? ` (${states})` : ''}`;
  return states || 'running';
}

function agentCell(h: HostReport): string {
  const a = h.agent;
  if (!a) return '-';
  if (!a.running) return 'not running';
  if (a.drained) return 'drained';
  return a.healthy ? 'healthy' : `unhealthy: ${a.reason ?? '?'}`;
}

function upstreamCell(h: HostReport): string {
  if (h.upstreams.length === 0) return '-';
  const healthy = h.upstreams.filter((u) => u.health === 'healthy').length;
  return `${healthy}/${h.upstreams.length} healthy`;
}

function redirectCell(h: HostReport): string {
  if (!h.reachable || !h.agent) return '-';
  if (!h.redirect) return 'off';
  return h.redirect.ok ? 'present' : 'MISSING';
}

function restartsCell(h: HostReport, now: number): string {
  const r = h.restarts;
  const parts: string[] = [];
  if (r.keepalived !== undefined) {
    const last = r.lastKeepalivedExit
      ? ` (last ${duration((now - Date.parse(r.lastKeepalivedExit.at)) / 1000)} ago)`
      : '';
    parts.push(`keepalived ${r.keepalived}${last}`);
  }
  if (r.keepalivedBackoff) {
    const wait = Math.max(0, (Date.parse(r.keepalivedBackoff.nextRestartAt) - now) / 1000);
    parts.push(
      `keepalived down: next start in ${duration(wait)} (${r.keepalivedBackoff.consecutiveFailures} failures in a row)`,
    );
  }
  if (r.agentService !== undefined) parts.push(`agent ${r.agentService}`);
  if (h.agent?.uptimeSeconds !== undefined) parts.push(`agent up ${duration(h.agent.uptimeSeconds)}`);
  return parts.join(', ') || '-';
}

export function renderStatus(report: ClusterReport, now = Date.parse(report.time)): string {
  const rows = report.hosts.map((h) => [
    h.hostname ? `${h.host} (${h.hostname})` : h.host,
    h.reachable ? 'yes' : 'NO',
    keepalivedCell(h),
    h.vipsHeld.join(',') || '-',
    agentCell(h),
    h.agent?.version ?? '-',
    upstreamCell(h),
    h.proxy.listening === undefined ? '-' : h.proxy.listening ? `:${h.proxy.port}` : 'DOWN',
    redirectCell(h),
    h.config.state === 'drift' ? 'DRIFT' : h.config.state,
    restartsCell(h, now),
  ]);
  const header = [
    'HOST',
    'REACHABLE',
    'KEEPALIVED',
    'VIPS HELD',
    'AGENT',
    'VERSION',
    'UPSTREAMS',
    'PROXY',
    'REDIRECT',
    'CONFIG',
    'RESTARTS',
  ];
  const notes: string[] = [];
  for (const v of report.vips) {
    const who = v.holders.length ? v.holders.join(', ') : 'no host';
    notes.push(
      `VIP ${v.vip} (${v.instance}): held by ${who}${v.holders.length === 1 ? '' : '  <- expected exactly one'}`,
    );
  }
  for (const h of report.hosts) {
    if (h.drained)
      notes.push(
        h.agent?.drained
          ? `[${h.host}] drained: holds no VIP until \`cplbctl uncordon\``
          : `[${h.host}] drained (marker on disk), but the agent does not act on it: ${h.agent?.running ? 'an agent too old for drain' : 'the agent is not running'}`,
      );
    if (h.error) notes.push(`[${h.host}] ${h.reachable ? '' : 'unreachable: '}${h.error}`);
    if (h.agent?.error) notes.push(`[${h.host}] agent: ${h.agent.error}`);
    if (h.redirect && !h.redirect.ok) notes.push(`[${h.host}] missing: ${h.redirect.missing.join(', ')}`);
    if (h.config.state === 'drift') notes.push(`[${h.host}] ${h.config.reason}`);
    for (const u of h.upstreams.filter((x) => x.health !== 'healthy'))
      notes.push(`[${h.host}] upstream ${target(u.address, u.port)} is ${u.health}`);
    for (const u of h.upstreams.filter((x) => x.health === 'healthy' && x.note))
      notes.push(`[${h.host}] upstream ${target(u.address, u.port)} is up (${u.note})`);
  }
  const unknown = report.hosts.find((h) => h.reachable && h.config.state === 'unknown');
  if (unknown) notes.push(`config not compared: ${unknown.config.reason}`);
  return formatTable(header, rows) + (notes.length ? '\n' + notes.join('\n') + '\n' : '');
}
