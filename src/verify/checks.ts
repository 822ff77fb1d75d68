/** verify's checks: each a name, a verdict, a one-line summary, the problems, and its figures. */
import { describeDrift, fileDrift } from './drift.js';
import { hostReport } from './host-report.js';
import { LOCAL } from './lb-probe.js';
import { reachableHosts, type InspectState } from './state.js';
import { target } from './tls.js';
import { judgeTimeline } from './vrrp-diagnosis.js';

export interface CheckResult {
  name: string;
  ok: boolean;
  summary: string;
  problems: string[];
  figures?: Record<string, unknown>;
}

/** A rule the agent had to put back this recently still fails verify: it vanished just before. */
const RECENT_REPAIR_SECONDS = 60;

/** Problems indented by two spaces explain the one above them; the summary names the first problem. */
const check = (
  name: string,
  problems: string[],
  okSummary: string,
  figures?: Record<string, unknown>,
): CheckResult => {
  const heads = problems.filter((p) => !p.startsWith('  '));
  const more = heads.length > 1 ? ` (and ${heads.length - 1} more)` : '';
  return {
    name,
    ok: problems.length === 0,
    summary: problems.length === 0 ? okSummary : `${heads[0] ?? problems[0]}${more}`,
    problems,
    ...(figures ? { figures } : {}),
  };
};

function reachableCheck(state: InspectState): CheckResult {
  const all = state.cluster.controllers.length;
  const problems = [
    ...[...state.unreachable].map(([h, why]) => `[${h}] unreachable: ${why}`),
    ...[...state.hostErrors].map(([h, why]) => `[${h}] could not be read: ${why}`),
  ];
  return check('reachable', problems, `${all} of ${all} controllers answered over SSH`, {
    controllers: all,
    reachable: reachableHosts(state).length,
  });
}

/** How a host's VRRP looks, for diagnosis lines. */
function stateOf(state: InspectState, instance: string) {
  return (host: string): string => {
    const r = hostReport(state, host);
    if (!r.reachable) return 'unreachable';
    if (!r.keepalived?.running) return 'keepalived is not running';
    const inst = r.keepalived.instances.find((i) => i.name === instance);
    const health = r.agent?.running
      ? r.agent.drained
        ? 'drained'
        : r.agent.healthy
          ? 'agent healthy'
          : `agent unhealthy: ${r.agent.reason}`
      : 'agent not answering';
    return `${inst?.state ?? 'UNKNOWN'} (${health})`;
  };
}

export function holderCheck(state: InspectState): CheckResult {
  const obs = state.observation;
  if (!obs) return check('one-holder', ['the VIPs were not watched'], '');
  const drifted = reachableHosts(state).filter((h) => {
    const hp = state.plan?.hosts.find((p) => p.host === h.name);
    const snap = state.snapshots.get(h.name);
    return (
      hp && snap && fileDrift(hp, snap).some((f) => f.path.endsWith('keepalived.conf') && f.state !== 'match')
    );
  });
  const problems: string[] = [];
  const holders: Record<string, string> = {};
  for (const t of obs.timelines) {
    const verdict = judgeTimeline({
      timeline: t,
      hosts: obs.hosts,
      windowSeconds: obs.windowSeconds,
      stateOf: stateOf(state, t.instance),
      drifted: drifted.map((h) => h.name),
      multicast:
        state.cluster.cplb.vrrpInstances.find((i) => i.name === t.instance)?.unicastSources === undefined,
    });
    if (verdict.ok) holders[t.vip] = verdict.holder;
    else problems.push(verdict.problem, ...verdict.diagnosis.map((d) => `  ${d}`));
  }
  const samples = obs.timelines[0]?.perSample.length ?? 0;
  const summary = Object.entries(holders)
    .map(([vip, h]) => `${vip} held by ${h}`)
    .join('; ');
  return check('one-holder', problems, `${summary} in all ${samples} samples over ${obs.windowSeconds} s`, {
    windowSeconds: obs.windowSeconds,
    samples,
    holders: Object.fromEntries(obs.timelines.map((t) => [t.vip, t.seen])),
  });
}

function configCheck(state: InspectState): CheckResult {
  const problems: string[] = [];
  if (!state.plan) problems.push(`not compared: ${state.planError ?? 'no plan'}`);
  else
    for (const h of reachableHosts(state)) {
      const hp = state.plan.hosts.find((p) => p.host === h.name);
      const snap = state.snapshots.get(h.name);
      if (!hp || !snap) continue;
      for (const d of fileDrift(hp, snap))
        if (d.state !== 'match') problems.push(`[${h.name}] ${describeDrift(d)}`);
    }
  const files = state.plan?.hosts[0]?.files.filter((f) => f.content !== undefined).length ?? 0;
  return check('config', problems, `${files} rendered files match the cluster file on every controller`);
}

function redirectCheck(state: InspectState): CheckResult {
  if (state.cluster.cplb.disableLoadBalancer) return check('redirect', [], 'not used (disableLoadBalancer)');
  const problems: string[] = [];
  let repairsTotal = 0;
  for (const h of reachableHosts(state)) {
    const r = hostReport(state, h.name);
    const snap = state.snapshots.get(h.name);
    if (!r.redirect || !snap) continue;
    for (const m of r.redirect.missing) problems.push(`[${h.name}] missing ${m}`);
    repairsTotal += r.redirect.repairs ?? 0;
    if (r.redirect.lastRepairAt && snap.clockMs !== undefined) {
      const age = (snap.clockMs - Date.parse(r.redirect.lastRepairAt)) / 1000;
      if (age < RECENT_REPAIR_SECONDS)
        problems.push(
          `[${h.name}] the REDIRECT rules vanished and the agent put them back ${Math.max(0, Math.round(age))} s ago (${r.redirect.repairs} times since it started): something removes them (a CNI flushing nat, a hand edit)`,
        );
    }
  }
  return check('redirect', problems, `the REDIRECT rule and both jumps are in place on every controller`, {
    repairs: repairsTotal,
  });
}

function servicesCheck(state: InspectState): CheckResult {
  const problems: string[] = [];
  for (const h of reachableHosts(state)) {
    const r = hostReport(state, h.name);
    if (!r.agent?.running)
      problems.push(`[${h.name}] the agent does not answer: ${r.agent?.error ?? r.error ?? 'no status'}`);
    if (!r.keepalived?.running) problems.push(`[${h.name}] keepalived is not running`);
    const snap = state.snapshots.get(h.name);
    if (snap?.keepalived.some((p) => p.role === 'vrrp' && !p.alive) && r.keepalived?.running)
      problems.push(`[${h.name}] keepalived runs without its VRRP process`);
    if (!state.cluster.cplb.disableLoadBalancer && r.proxy.listening === false)
      problems.push(`[${h.name}] nothing listens on the proxy port :${r.proxy.port}`);
  }
  return check(
    'services',
    problems,
    `the agent, keepalived and the proxy (:${state.cluster.cplb.proxyPort}) run on every controller`,
  );
}

export function healthCheck(state: InspectState): CheckResult {
  const problems: string[] = [];
  const sick = new Set<string>();
  const drained: string[] = [];
  for (const h of reachableHosts(state)) {
    const r = hostReport(state, h.name);
    // A drained node gives the VIP up on purpose: that is its job, not a fault.
    if (r.agent?.drained) drained.push(h.name);
    else if (r.agent?.running && !r.agent.healthy)
      problems.push(`[${h.name}] agent unhealthy: ${r.agent.reason}`);
    for (const u of r.upstreams)
      if (u.health !== 'healthy') sick.add(`${target(u.address, u.port)} (${u.health})`);
  }
  const note = sick.size ? `; API servers not healthy (not a CPLB fault): ${[...sick].join(', ')}` : '';
  const others = drained.length ? ` (drained: ${drained.join(', ')})` : '';
  return check(
    'agent-health',
    problems,
    `every ${drained.length ? 'undrained ' : ''}agent is healthy${others}${note}`,
    {
      unhealthyUpstreams: [...sick],
      drained,
    },
  );
}

function lbCheck(state: InspectState): CheckResult {
  if (state.cluster.cplb.disableLoadBalancer)
    return check('load-balancing', [], 'not used (disableLoadBalancer)');
  if (!state.lb) return check('load-balancing', [state.lbError ?? 'not probed'], '');
  const problems: string[] = [];
  const parts: string[] = [];
  for (const v of state.lb.vantages) {
    const from = v.from === LOCAL ? LOCAL : `[${v.from}]`;
    if (v.skipped) {
      parts.push(`${LOCAL}: skipped, ${v.skipped}`);
      continue;
    }
    if (v.failed) problems.push(`${from} ${v.failed} of ${v.connections} TLS connections to ${v.vip} failed`);
    if (v.missed.length)
      problems.push(`${from} no connection to ${v.vip} reached ${v.missed.join(', ')} (healthy API servers)`);
    if (v.backends.unknown)
      problems.push(
        `${from} ${v.backends.unknown} connections to ${v.vip} reached a server no controller showed directly`,
      );
    const reached = Object.keys(v.backends).filter((k) => k !== 'unknown').length;
    parts.push(
      `${v.from === LOCAL ? LOCAL : v.from}: ${v.connections} connections reached ${reached} API servers`,
    );
  }
  return check('load-balancing', problems, parts.join('; '), {
    vantages: state.lb.vantages,
    upstreams: state.lb.upstreams,
  });
}

export function evaluateChecks(state: InspectState): CheckResult[] {
  return [reachableCheck, holderCheck, configCheck, redirectCheck, servicesCheck, healthCheck, lbCheck].map(
    (f) => f(state),
  );
}
