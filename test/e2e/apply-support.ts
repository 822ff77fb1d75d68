/** Running the built CLI against a lab, and fingerprints of host state to prove what changed. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll } from 'vitest';
import { labDown, labExec, labUp, type LabInfo, type LabUpOptions } from '../../src/lab/index.js';
import { checkEventLines } from '../support/events.js';

const execFileAsync = promisify(execFile);

/** A lab for one test file: up before its tests, down after them. Call the getter inside tests. */
export function useLab(name: string, opts: Omit<LabUpOptions, 'name'> = {}): () => LabInfo {
  let lab: LabInfo | undefined;
  beforeAll(async () => {
    lab = await labUp({ name, hosts: 3, ...opts });
  }, 180_000);
  afterAll(async () => {
    await labDown(name);
  }, 60_000);
  return () => {
    if (!lab) throw new Error(`lab ${name} is not up`);
    return lab;
  };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function cli(
  args: string[],
  opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<CliResult> {
  try {
    const { stdout, stderr } = await execFileAsync('node', ['bin/cplbctl.js', ...args], {
      timeout: opts.timeoutMs ?? 120_000,
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, XDG_CACHE_HOME: '/tmp/cplbctl-test-cache', ...opts.env },
    });
    return eventsChecked({ code: 0, stdout, stderr });
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return eventsChecked({
      code: typeof e.code === 'number' ? e.code : -1,
      stdout: e.stdout ?? '',
      stderr: e.stderr ?? '',
    });
  }
}

/**
 * Every `-o json` event line an e2e run prints (apply and reset on stdout, status and verify on
 * stderr) must fit the published events schema (`cplbctl schema --events`): a line that does not
 * fails the test that ran it.
 */
function eventsChecked(result: CliResult): CliResult {
  const { problems } = checkEventLines(`${result.stdout}\n${result.stderr}`);
  if (problems.length) throw new Error(`event lines that break the events schema:\n${problems.join('\n')}`);
  return result;
}

export function applyArgs(lab: LabInfo, ...extra: string[]): string[] {
  return ['apply', '--known-hosts', lab.knownHosts, '-o', 'logfmt', ...extra, lab.clusterFile];
}

/** Marks the moment before a run on a host (in its private /tmp, outside what is checked). */
export async function markHost(lab: LabInfo, host: string): Promise<void> {
  await labExec(lab.name, host, ['sh', '-c', 'touch /tmp/cplb-test-marker && sleep 1']);
}

/**
 * Everything on the host that changed since markHost: files modified or created under the
 * directories a deploy could touch (lab's own sshd log aside), leftovers in /tmp, the nat table
 * and the addresses. Empty `changedFiles` and equal state mean the host did not change.
 */
export async function hostChanges(
  lab: LabInfo,
  host: string,
): Promise<{ changedFiles: string[]; state: string }> {
  const find =
    'find /etc /usr/local/lib /usr/local/bin /usr/local/sbin /var/lib /var/log /run -xdev \\( -type f -o -type l \\) -newer /tmp/cplb-test-marker -not -path "/var/log/cplb-lab/*" -not -path "/run/sshd*" -not -path "/run/cplb-lock/guard" 2>/dev/null; ls /tmp | grep -v cplb-test-marker || true';
  const state =
    "iptables-save -t nat 2>/dev/null | grep -v '^#'; ip -o addr show | awk '{print $2, $4}'; ls -d /run/cplb-lock/owner 2>/dev/null || true";
  const [files, st] = await Promise.all([
    labExec(lab.name, host, ['sh', '-c', find]),
    labExec(lab.name, host, ['sh', '-c', state]),
  ]);
  return { changedFiles: files.stdout.split('\n').filter(Boolean), state: st.stdout };
}
