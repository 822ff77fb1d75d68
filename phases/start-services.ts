import type { ApplyState } from '../src/apply/state.js';
import { diffOf, hostPlanOf, remoteOf } from '../src/apply/state.js';
import { switchScript, takeStaged } from '../src/apply/staging.js';
import type { Host } from '../src/config/types.js';
import { forEachHost, type HostContext, type Phase } from '../src/pipeline/index.js';
import type { ServiceAction } from '../src/plan/diff.js';
import { rollingSteps } from '../src/plan/rollout.js';
import { CplbError } from '../src/core/errors.js';
import { readyForHandOff, verifyTimeoutMs } from '../src/verify/agent-status.js';
import { readAgentOnly } from '../src/verify/host-snapshot.js';
import { handOffVips, logHandOff } from '../src/verify/handoff.js';

const READY_POLL_MS = 150;

/** What the host needs once its files are switched in: only what changed is started or reloaded. */
function actionFor(state: ApplyState, host: Host): ServiceAction {
  if (state.dryRun) return diffOf(state, host).action;
  const hp = hostPlanOf(state, host);
  const written = state.written.get(host.name) ?? new Set<string>();
  if (hp.agentRunning !== true) return 'start';
  const agentOrService =
    hp.files.some((f) => f.artifact && written.has(f.path)) || written.has(hp.service.definitionPath);
  if (agentOrService) return 'restart';
  if (state.reloadedTogether.has(host.name)) return 'none';
  if (hp.files.some((f) => f.content !== undefined && written.has(f.path))) return 'reload';
  return 'none';
}

/** The service definition changed, or the service was never installed: install before starting. */
function needsInstall(state: ApplyState, host: Host): boolean {
  const hp = hostPlanOf(state, host);
  if (hp.init === 'none') return false;
  return diffOf(state, host).install || state.written.get(host.name)?.has(hp.service.definitionPath) === true;
}

const done = { start: 'started', restart: 'restarted', reload: 'reloaded' } as const;

/** Switches in everything still staged on the host, installs the service if needed, then acts. */
async function switchAndAct(host: Host, ctx: HostContext<ApplyState, Host>): Promise<void> {
  const action = actionFor(ctx.state, host);
  const install = needsInstall(ctx.state, host);
  if (ctx.dryRun) {
    if (install) ctx.log.info(`would install the ${hostPlanOf(ctx.state, host).init} service cplb-agent`);
    if (action !== 'none') ctx.log.info(`would ${action} cplb-agent`);
    return;
  }
  const files = takeStaged(ctx.state, host);
  if (action === 'none' && files.length === 0) return;
  const hp = hostPlanOf(ctx.state, host);
  if (action === 'restart') await handOffFirst(host, ctx);
  const steps = [switchScript(files)];
  if (install) steps.push(hp.service.commands.install);
  if (action !== 'none') steps.push(hp.service.commands[action]);
  await remoteOf(ctx.state, host).exec(steps.join(' &&\n'), { timeoutMs: 60_000 });
  if (action !== 'none') ctx.state.restarted.add(host.name);
  if (files.length) ctx.log.info(`switched in ${files.map((f) => f.path).join(', ')}`);
  if (action === 'none') return;
  ctx.log.info(`${done[action]} cplb-agent`);
  if (action !== 'reload') await waitReady(host, ctx);
}

/**
 * Before a holder's agent stops, another host takes its VIPs (make-before-break): a stop's
 * priority-0 advert would leave them unheld for the skew time. Where no host can take them this way,
 * the stop still hands them over gracefully, as before.
 */
async function handOffFirst(host: Host, ctx: HostContext<ApplyState, Host>): Promise<void> {
  const { state } = ctx;
  const peers = state.cluster.controllers.filter((h) => h.name !== host.name).map((h) => remoteOf(state, h));
  const r = await handOffVips({
    cluster: state.cluster,
    holder: remoteOf(state, host),
    peers,
    signal: ctx.signal,
  });
  logHandOff(r, ctx.log, 'the stop gives the VIP up gracefully');
}

/**
 * A (re)started agent's service command returns once its process runs, well before its keepalived
 * listens (the single executable alone takes ~0.5 s to start). A holder restarted then finds no
 * backup to hear its priority-0 advert, and its VIP is unheld for a whole master-down interval
 * (3.5 s measured by test/e2e/apply-upgrade.test.ts). So the next step waits until this host can
 * take a VIP at once.
 */
async function waitReady(host: Host, ctx: HostContext<ApplyState, Host>): Promise<void> {
  const started = Date.now();
  const deadline = started + verifyTimeoutMs(ctx.state);
  let last = 'no status yet';
  while (!ctx.signal.aborted) {
    const agent = await readAgentOnly(remoteOf(ctx.state, host));
    const r = agent.ok ? readyForHandOff(agent.status) : { ready: false, state: agent.error };
    last = r.state;
    if (r.ready) {
      ctx.log.info(`cplb-agent ready after ${Date.now() - started} ms (${r.state})`);
      return;
    }
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, READY_POLL_MS));
  }
  if (ctx.signal.aborted) return;
  throw new CplbError(
    `the agent did not become ready to take a VIP within ${Math.round((Date.now() - started) / 1000)} s (${last}); no VIP holder was restarted after it`,
    {
      code: 'AGENT_NOT_READY',
      fault: 'remote',
      hint: 'see the agent log on the host (/var/log/cplb-agent.log or journalctl -u cplb-agent), then run `cplbctl apply` again',
    },
  );
}

/**
 * A `together` rollout: every host whose agent runs switches its configuration in and reloads at
 * once, so no host is on the old VRRP settings while another is on the new. An agent build or
 * service change still waits for the rolling pass.
 */
async function switchTogether(host: Host, ctx: HostContext<ApplyState, Host>): Promise<void> {
  const hp = hostPlanOf(ctx.state, host);
  const config = new Set(
    hp.files
      .filter((f) => f.content !== undefined && f.path !== hp.service.definitionPath)
      .map((f) => f.path),
  );
  const files = takeStaged(ctx.state, host, (p) => config.has(p));
  if (files.length === 0) return;
  await remoteOf(ctx.state, host).exec(`${switchScript(files)} &&\n${hp.service.commands.reload}`, {
    timeoutMs: 60_000,
  });
  ctx.state.reloadedTogether.add(host.name);
  ctx.state.restarted.add(host.name);
  ctx.log.info(
    `switched in ${files.map((f) => f.path).join(', ')} and reloaded cplb-agent with every other host`,
  );
}

/**
 * Runs only once every host has everything staged (the phases before it fail the run otherwise).
 * The plan's rollout says how: `together` first switches every running host's configuration at
 * once; then, rolling, hosts that hold no VIP go all at once and VIP holders last, one at a time, so
 * a VIP moves at most once and never to a host still on the old configuration.
 */
export const startServicesPhase: Phase<ApplyState, Host> = {
  title: 'Switch in and start or reload',
  async run(ctx) {
    const hosts = ctx.state.cluster.controllers;
    const rollout = ctx.state.diff!.rollout;
    if (rollout.mode === 'together' && !ctx.dryRun) {
      ctx.log.info(`switching every host at once: ${rollout.reason}`);
      const running = hosts.filter((h) => hostPlanOf(ctx.state, h).agentRunning === true);
      await forEachHost(ctx, running, switchTogether, { concurrency: running.length || 1 });
    }
    const steps = rollingSteps(ctx.state.plan!);
    const named = (holders: boolean) =>
      steps
        .filter((s) => s.vips.length > 0 === holders)
        .flatMap((s) => s.hosts)
        .map((n) => hosts.find((h) => h.name === n)!);
    await forEachHost(ctx, named(false), switchAndAct);
    await forEachHost(ctx, named(true), switchAndAct, { concurrency: 1, failFast: true });
  },
  async dryRun(ctx) {
    await this.run(ctx);
  },
};
