/**
 * The long failover soak: many crash and graceful rounds in a row on a fresh lab, every crashed host
 * back, and the double claim measured.
 *
 *   npx tsx bench/crash-soak.ts [--rounds 50] [--profiles default,fast] [--modes crash,graceful]
 *                               [--flavor plain|systemd|openrc] [--lab soak] [--probe-every-ms 75]
 *
 * Rounds run as a user runs them (`cplbctl verify --failover --mode M --rounds N -o json`). For the
 * whole soak, `ip -ts monitor address` runs in every host's namespace and a client on this machine
 * opens a new TLS connection through the VIP every 75 ms. Per round it prints verify's figures, the
 * faulted host's rejoin (back as BACKUP, from its agent's log: from the fault, and from the agent's
 * restart of keepalived), and any double claim (more than one host holding the VIP, from the monitor
 * timestamps) with the client's failed connections that started inside it. Exits 1 when a round
 * missed its bound, a host did not rejoin, or one rejoined later than the backoff cap (30 s) plus an
 * advert interval and 1 s after keepalived could run again. Then the agents' logs and each host's
 * keepalived pid files and processes are kept, and their directory printed (CPLB_BENCH_KEEP=1 keeps
 * them always). Root only: it makes the lab and removes it.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labDown, labExec, labUp, type LabFlavor, type LabInfo } from '../src/lab/index.js';
import type { RoundResult } from '../src/verify/failover/types.js';
import type { VerifyResult } from '../src/verify/verify-report.js';
import { clientLoad } from '../test/e2e/under-load.js';
import { arg } from './args.js';
import { cli, profileFile } from './failover-lab.js';
import { analyseRun, type RunFigures, summaryLines } from './soak-figures.js';
import { parseAgentLog, parseMonitor, startMonitor, holds, type VipEvent } from './vip-timeline.js';

const rounds = Number(arg('rounds', '50'));
const profiles = arg('profiles', 'default,fast').split(',');
const modes = arg('modes', 'crash,graceful').split(',');
const flavor = arg('flavor', 'plain') as LabFlavor;
const labName = arg('lab', 'soak');
const probeEveryMs = Number(arg('probe-every-ms', '75'));
const ADVERT_S: Record<string, number> = { default: 1, fast: 0.1 };

const log = (msg: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${msg}\n`);

/** Everything a failed rejoin needs to be explained: the agent's log, keepalived's pid files and whom they name. */
const DIAG = `echo "== status"; cat /run/cplb/status 2>/dev/null; echo
echo "== pid files"; for f in /run/cplb/*.pid; do [ -f "$f" ] || continue; p=$(cat "$f"); echo "$f: $p"; ps -o pid,ppid,stat,lstart,args -p "$p" 2>/dev/null | tail -n +2; done
echo "== keepalived processes"; ps -eo pid,ppid,stat,lstart,args | grep '[k]eepalived'
echo "== agent processes"; ps -eo pid,ppid,stat,lstart,args | grep '[c]plb-agent'`;
const AGENT_LOG = `if [ -s /var/log/cplb-agent.log ]; then cat /var/log/cplb-agent.log; else journalctl -u cplb-agent -o cat --no-pager 2>/dev/null; fi`;

async function agentLogs(lab: LabInfo): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const h of lab.hosts.filter((x) => x.role === 'controller'))
    out.set(h.name, (await labExec(lab.name, h.name, ['sh', '-c', AGENT_LOG])).stdout);
  return out;
}

async function saveDiagnosis(lab: LabInfo, dir: string, tag: string): Promise<string> {
  const d = join(dir, `diag-${tag}`);
  mkdirSync(d, { recursive: true });
  for (const h of lab.hosts.filter((x) => x.role === 'controller')) {
    const diag = await labExec(lab.name, h.name, ['sh', '-c', DIAG]).catch((e: Error) => ({
      stdout: `lab exec failed: ${e.message}`,
    }));
    writeFileSync(join(d, `${h.name}.diag.txt`), diag.stdout);
  }
  for (const [host, text] of await agentLogs(lab)) writeFileSync(join(d, `${host}.agent.log`), text);
  return d;
}

const lab = await labUp({ name: labName, hosts: 3, flavor, log });
const dir = mkdtempSync(join(tmpdir(), 'cplb-bench-soak-'));
const controllers = lab.hosts.filter((h) => h.role === 'controller');
const vip = lab.vip.split('/')[0]!;
/** verify names a host by its SSH address (`ADDRESS:PORT`); the lab by its own name. */
const hostOf = new Map(
  controllers.flatMap((h) => [
    [`${h.address}:${h.sshPort}`, h.name],
    [h.address, h.name],
  ]),
);
const byLabName = (rounds: RoundResult[]): RoundResult[] =>
  rounds.map((r) => ({
    ...r,
    from: hostOf.get(r.from) ?? r.from,
    to: r.to === null ? null : (hostOf.get(r.to) ?? r.to),
  }));
const monitors = new Map(controllers.map((h) => [h.name, startMonitor(h.netns)]));
const figures: RunFigures[] = [];
let keep = process.env.CPLB_BENCH_KEEP === '1';
let failed = false;
try {
  log(`lab ${lab.name} (${lab.flavor}) up, VIP ${vip}; logs in ${dir}`);
  writeFileSync(join(dir, 'hosts.json'), JSON.stringify(Object.fromEntries(hostOf)));
  for (const profile of profiles) {
    const file = profileFile(lab, profile, dir);
    const applied = await cli(['apply', '--known-hosts', lab.knownHosts, '-o', 'logfmt', file]);
    if (applied.code !== 0) throw new Error(`apply ${profile} failed:\n${applied.stdout}`);
    for (const mode of modes) {
      const key = `${profile} ${mode}`;
      log(`${key}: ${rounds} rounds`);
      const load = clientLoad(vip, 6443, probeEveryMs);
      const startMs = Date.now();
      const res = await cli(
        ['verify', '--failover', '--mode', mode, '--rounds', String(rounds)].concat([
          '--known-hosts',
          lab.knownHosts,
          '-o',
          'json',
          file,
        ]),
      );
      const endMs = Date.now();
      const client = await load.stop();
      writeFileSync(join(dir, `${profile}-${mode}.client.json`), JSON.stringify(client));
      writeFileSync(join(dir, `${profile}-${mode}.json`), res.stdout);
      const result = JSON.parse(res.stdout) as VerifyResult;
      const roundsDone = byLabName(result.failover?.rounds ?? []);
      const notBack = roundsDone.some((r) => r.problems.some((p) => /not back after/.test(p)));
      // Diagnose before anything else runs on the hosts: the state that kept a host out is still there.
      if (notBack) {
        const d = await saveDiagnosis(lab, dir, `${profile}-${mode}`);
        log(`a host did not rejoin: agent logs, pid files and processes in ${d}`);
        keep = true;
      }
      const logs = await agentLogs(lab);
      for (const [host, text] of logs) writeFileSync(join(dir, `${profile}-${mode}.${host}.agent.log`), text);
      const events: VipEvent[] = [];
      for (const [host, m] of monitors) events.push(...parseMonitor(host, m.text(), vip));
      const fig = analyseRun({
        key,
        mode,
        advertS: ADVERT_S[profile] ?? 1,
        rounds: roundsDone,
        holds: holds(
          events.filter((e) => e.ms <= endMs),
          endMs,
        ),
        startMs,
        endMs,
        probeEveryMs,
        logs: new Map([...logs].map(([h, t]) => [h, parseAgentLog(t)])),
        probeFailures: client.failures.map((f) => ({
          startMs: client.t0 + f.at,
          endMs: client.t0 + f.endAt,
        })),
        probeAttempts: client.attempts,
        wallS: (endMs - startMs) / 1000,
        skipped: result.failover ? undefined : (result.failoverSkipped ?? 'verify failed'),
      });
      figures.push(fig);
      for (const line of fig.roundLines) console.log(line);
      if (!fig.ok) failed = true;
      if (!fig.ok) keep = true;
    }
  }
} finally {
  for (const m of monitors.values()) m.stop();
  writeFileSync(join(dir, 'monitor.txt'), [...monitors].map(([h, m]) => `== ${h}\n${m.text()}`).join('\n'));
  await labDown(lab.name);
  console.log('');
  for (const line of summaryLines(figures)) console.log(line);
  if (keep) console.log(`kept: ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
