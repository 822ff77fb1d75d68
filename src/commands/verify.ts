import { Option, type Command } from 'commander';
import { CplbError } from '../core/errors.js';
import { evaluateChecks } from '../verify/checks.js';
import { verifyPhases } from '../flows/inspect.js';
import { renderVerify, verifyResult, type VerifyResult } from '../verify/verify-report.js';
import { renderJunit, renderSummary } from '../verify/ci-reports.js';
import { appendFileSync, writeFileSync } from 'node:fs';
import { inspect } from './inspect.js';
import { addRunOptions, type RunOptions } from './run-options.js';

interface VerifyOptions extends RunOptions {
  junit?: string;
  summary?: string;
  failover: boolean;
  mode: 'graceful' | 'crash';
  rounds: number;
  localProbe: boolean;
}

function rounds(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1000)
    throw new CplbError(`--rounds ${value}: expected a whole number from 1 to 1000`, {
      code: 'USAGE',
      fault: 'usage',
    });
  return n;
}

export function registerVerify(program: Command): void {
  const cmd = program
    .command('verify')
    .description(
      'Prove the cluster works: one VIP holder over several adverts, no config drift, rules, services, load balancing; --failover times a failover.',
    )
    .argument('[file]', 'cluster file (native or k0sctl.yaml)', 'cluster.yaml')
    .option('--failover', 'also move the VIP on purpose and time it (takes the host lock like apply)', false)
    .addOption(
      new Option('--mode <mode>', 'how --failover stops the holder')
        .choices(['graceful', 'crash'])
        .default('graceful'),
    )
    .option(
      '--rounds <n>',
      'failover rounds; figures are reported per round and as min/median/p90/max',
      rounds,
      3,
    )
    .option(
      '--no-local-probe',
      'make TLS connections to the VIP only from a controller, never from this machine',
    )
    .option(
      '--junit <file>',
      'also write the result as JUnit XML: a testcase per check and per failover round',
    )
    .option(
      '--summary <file>',
      'also write a Markdown summary (appended to $GITHUB_STEP_SUMMARY too, when that is set)',
    );
  addRunOptions(cmd).addHelpText(
    'after',
    `
Checks (each must hold):
  reachable       every controller answers over SSH
  one-holder      each host samples its addresses every advert/2 for 3 adverts: exactly one holder
                  per VIP in every sample. Otherwise keepalived's counters (SIGUSR2 stats) over the same
                  window tell blocked VRRP (holders sent adverts, received none) from an authPass or
                  config mismatch
  config          keepalived.conf, agent.json and the service file match what the cluster file renders
                  (sha256 on disk, and the hashes the agent says it loaded): a hand edit fails, named
  redirect        the REDIRECT rule and its PREROUTING/OUTPUT jumps are in the nat table. The agent
                  puts a vanished rule back within seconds, so a repair it made in the last 60 s fails
                  too: whatever removes the rule is still there
  services        the agent answers, keepalived and its VRRP process run, the proxy listens
  agent-health    every agent is healthy (a sick API server is reported, not failed)
  load-balancing  3 TLS connections per healthy API server to VIP:6443, from a controller that does not
                  hold the VIP (openssl s_client, else node) and from this machine when it reaches the
                  VIP, reach every healthy API server (told apart by certificate fingerprint)

--failover, per round: graceful writes 1 into keepalived's track file on the holder (FAULT: it drops
the VIP and sends a priority-0 advert); crash freezes the holder's agent (SIGSTOP), kills keepalived's
VRRP process and keepalived with SIGKILL and deletes the VIP, as a power loss would. TLS connections
start every 50 ms from another controller (and this machine); \`ip monitor\` on the others timestamps
the VIP's arrival. The holder is then restored, and must not take the VIP back. A round fails above
its bound: crash 3 x advert + skew, graceful the skew alone, plus 150 ms (200 ms more to serve again).

Examples:
  cplbctl verify cluster.yaml
  cplbctl verify --failover --mode crash --rounds 5 -o json cluster.yaml

Exit codes: 0 every check holds (and every failover round kept its bound), 1 a controller could not
be reached or read, 2 bad config or usage, 3 reachable but unhealthy (names what failed), 130 cancelled.`,
  );
  cmd.action(async (file: string, opts: VerifyOptions) => {
    const failover = opts.failover ? { mode: opts.mode, rounds: opts.rounds } : undefined;
    const { state, format } = await inspect(
      file,
      opts,
      opts.failover ? 'verify --failover' : 'verify',
      verifyPhases(opts.failover),
      {
        localProbe: opts.localProbe,
        ...(failover ? { failover } : {}),
      },
    );
    const result = verifyResult(
      state.cluster.name,
      evaluateChecks(state),
      state.failover,
      state.failoverSkipped,
    );
    process.stdout.write(format === 'json' ? JSON.stringify(result) + '\n' : renderVerify(result));
    writeCiReports(result, opts);
    if (result.exitCode !== 0) {
      const failed = result.checks.filter((c) => !c.ok).map((c) => c.name);
      if (result.failover && !result.failover.ok) failed.push('failover');
      throw new CplbError(`not verified: ${failed.join(', ') || 'failover not attempted'}`, {
        code: result.exitCode === 1 ? 'HOSTS_UNREACHABLE' : 'NOT_HEALTHY',
        fault: result.exitCode === 1 ? 'remote' : 'unhealthy',
      });
    }
  });
}

/** The files CI servers read, written whatever the verdict (a failed run is when they matter most). */
function writeCiReports(result: VerifyResult, opts: VerifyOptions): void {
  const write = (file: string, text: string, append = false) => {
    try {
      (append ? appendFileSync : writeFileSync)(file, text);
    } catch (err) {
      throw new CplbError(`cannot write ${file}: ${(err as Error).message}`, {
        code: 'REPORT_WRITE',
        fault: 'usage',
        hint: 'check the path and its directory',
      });
    }
  };
  if (opts.junit) write(opts.junit, renderJunit(result));
  const summary = renderSummary(result);
  if (opts.summary) write(opts.summary, summary);
  const github = process.env.GITHUB_STEP_SUMMARY;
  if (github) write(github, summary, true);
}
