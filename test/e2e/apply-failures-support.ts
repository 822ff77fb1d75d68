/** Helpers for apply-failures.test.ts: apply state as the CLI builds it, lock probes, session kills. */
import { localAgentSha256 } from '../../src/apply/agent-artifacts.js';
import { newApplyState, type ApplyState } from '../../src/apply/state.js';
import { lockOwner } from '../../src/commands/run-options.js';
import type { Cluster } from '../../src/config/types.js';
import { labExec } from '../../src/lab/index.js';
import { LOCK_DIR } from '../../src/lock/host-lock.js';

/** What `cplbctl apply --dry-run` builds (src/commands/apply.ts), with a short lock TTL and command timeout. */
export async function applyState(
  cluster: Cluster,
  knownHosts: string,
  ttlSeconds: number,
): Promise<ApplyState> {
  return newApplyState(
    cluster,
    { knownHostsFiles: [knownHosts], connectTimeoutMs: 5000, commandTimeoutMs: 3000 },
    lockOwner('apply --dry-run'),
    true,
    ttlSeconds,
    await localAgentSha256(),
  );
}

/** The lock's owner file on a lab host; null when no lock is there. */
export async function lockState(lab: string, host: string): Promise<string | null> {
  const r = await labExec(lab, host, [
    'sh',
    '-c',
    `[ -f ${LOCK_DIR}/owner ] || exit 0; echo held; cat ${LOCK_DIR}/owner`,
  ]);
  return r.stdout ? r.stdout : null;
}

/**
 * Kills every sshd process under the host's listener (each connection's session processes), so the
 * client's connection drops as if the host's network had reset it. Returns how many were killed.
 */
export async function killSshSessions(lab: string, host: string): Promise<number> {
  const script = [
    'kids() { for p in $(pgrep -P "$1"); do echo "$p"; kids "$p"; done; }',
    'pids=$(kids "$(cat /run/sshd.pid)")',
    '[ -z "$pids" ] || kill -9 $pids',
    'echo $pids | wc -w',
  ].join('\n');
  const r = await labExec(lab, host, ['sh', '-c', script]);
  if (r.code !== 0) throw new Error(`killing sessions on ${host}: ${r.stderr}`);
  return Number(r.stdout.trim());
}

/** When a successful run had every lock (end of the acquire phase) and started releasing them. */
export interface RunTimes {
  acquireEnd: number;
  releaseStart: number;
}

export function runTimes(jsonOutput: string): RunTimes {
  const events = jsonOutput
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { type: string; phase?: string; status?: string; time: string });
  const at = (type: string, phase: string) => {
    const e = events.find((x) => x.type === type && x.phase === phase);
    if (!e) throw new Error(`no ${type} for ${phase} in:\n${jsonOutput}`);
    return Date.parse(e.time);
  };
  return {
    acquireEnd: at('phase-end', 'Acquire exclusive host lock'),
    releaseStart: at('phase-start', 'Release exclusive host lock'),
  };
}
