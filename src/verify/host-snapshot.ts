/**
 * One round trip per host for status and verify: the agent's own status, and what the kernel and the
 * files say independently of it (addresses, the nat table, listening sockets, file hashes, keepalived's
 * pids), so a dead or lying agent cannot hide anything.
 */
import type { AgentStatus } from '../contract/status.js';
import { STATUS_FILE_TAG } from '../contract/status.js';
import { AGENT_BIN, AGENT_JS, DRAIN_FILE, RUN_DIR, STATUS_FILE, STATUS_SOCKET } from '../contract/paths.js';
import type { Remote } from '../ssh/remote.js';
import { shJoin, shq } from '../contract/quote.js';
import { nsToMs, parseIpOneline, SH_HEAD, type IpAddress } from './sh.js';
import { sectionBody, sections } from '../contract/script.js';

export interface SnapshotRequest {
  /** iptables backend the agent uses (facts); undefined: the host's default iptables-save. */
  backend?: 'nft' | 'legacy';
  ipv6: boolean;
  /** Paths whose sha256 is compared with the plan. */
  files: readonly string[];
}

export interface KeepalivedProc {
  role: 'main' | 'vrrp';
  pid: number | undefined;
  alive: boolean;
}

export interface HostSnapshot {
  host: string;
  /** Host clock (ms since the epoch) when the snapshot was taken. */
  clockMs: number | undefined;
  agent: { ok: true; status: AgentStatus } | { ok: false; error: string };
  addresses: IpAddress[];
  /** iptables-save -t nat output, per family. */
  nat: { 4: string; 6: string };
  /** sha256 hex per requested path; null when the file is absent. */
  hashes: Map<string, string | null>;
  keepalived: KeepalivedProc[];
  /** TCP ports something listens on (ss); undefined when ss is missing. */
  listening: Set<number> | undefined;
  /** systemd's restart count of the agent service; undefined elsewhere. */
  agentServiceRestarts: number | undefined;
  /** The drain marker is on disk (whatever the agent says, or when it is down). */
  drained: boolean;
}

const save = (family: 4 | 6, backend: SnapshotRequest['backend']) => {
  const base = family === 4 ? 'iptables' : 'ip6tables';
  const specific = backend ? `${base}-${backend}-save` : `${base}-save`;
  return `if command -v ${specific} >/dev/null 2>&1; then ${specific} -t nat 2>/dev/null; else ${base}-save -t nat 2>/dev/null; fi`;
};

const status = (head: string) => `${head} status --socket ${shq(STATUS_SOCKET)} 2>&1`;

/** A status file older than this (host clock) is a dead or frozen agent's: ask the socket instead. */
export const STATUS_FILE_MAX_AGE_S = 3;

/**
 * The agent's status JSON in an `agent` section, its exit code in `agent-exit`. From the status file
 * the agent rewrites every second (`cat`, no process of the agent's), while it is fresh and its writer
 * alive; otherwise from the socket through the agent's own client (single executable or node bundle),
 * which also reports a dead agent.
 */
export const AGENT_STATUS_SH = `m agent
tag=; t=; p=; s=
{ read -r tag t p && s=$(cat); } 2>/dev/null <${shq(STATUS_FILE)}
case $t in ''|*[!0-9]*) t=0 ;; esac
case $p in ''|*[!0-9]*) p=0 ;; esac
n=\${EPOCHREALTIME:-}; n=\${n%.*}; [ -n "$n" ] || n=$(date +%s)
if [ "$tag" = ${STATUS_FILE_TAG} ] && [ -n "$s" ] && [ -d /proc/$p ] && [ $((n - t)) -le ${STATUS_FILE_MAX_AGE_S} ] && [ $((t - n)) -le ${STATUS_FILE_MAX_AGE_S} ]; then
  printf '%s\\n' "$s"; true
elif [ -x ${shq(AGENT_BIN)} ]; then ${status(shq(AGENT_BIN))}
elif [ -f ${shq(AGENT_JS)} ] && command -v node >/dev/null 2>&1; then ${status(shJoin(['node', AGENT_JS]))}
else echo 'the agent is not installed'; false; fi
rc=$?; m agent-exit $rc
`;

export function snapshotScript(req: SnapshotRequest): string {
  const files = req.files.map(shq).join(' ');
  return `${SH_HEAD}m clock; now
${AGENT_STATUS_SH}m addr; ip -o addr show 2>/dev/null
m nat4; ${save(4, req.backend)}
m nat6; ${req.ipv6 ? save(6, req.backend) : ':'}
m hashes; for f in ${files || "''"}; do if [ -f "$f" ]; then sha256sum "$f"; else echo "- $f"; fi; done
m keepalived
for r in main:keepalived.pid vrrp:keepalived-vrrp.pid; do
  pid=$(cat ${shq(RUN_DIR)}/"\${r#*:}" 2>/dev/null)
  if [ -n "$pid" ] && grep -q keepalived "/proc/$pid/cmdline" 2>/dev/null; then echo "\${r%%:*} $pid alive"; else echo "\${r%%:*} \${pid:--} dead"; fi
done
m listen; ss -Hltn 2>/dev/null || echo 'no-ss'
m restarts; systemctl show -p NRestarts --value cplb-agent 2>/dev/null
m drained; if [ -e ${shq(DRAIN_FILE)} ]; then echo yes; else echo no; fi
m end
`;
}

export function parseSnapshot(host: string, stdout: string, files: readonly string[]): HostSnapshot {
  const list = sections(stdout);
  const body = (name: string) => sectionBody(list, name) ?? '';
  const agentExit = list.find((s) => s.name === 'agent-exit')?.args[0];
  return {
    host,
    clockMs: nsToMs(body('clock')),
    agent: parseAgent(body('agent'), agentExit),
    addresses: parseIpOneline(body('addr')),
    nat: { 4: body('nat4'), 6: body('nat6') },
    hashes: parseHashes(body('hashes'), files),
    keepalived: body('keepalived')
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((w) => w[0] === 'main' || w[0] === 'vrrp')
      .map(([role, pid, state]) => ({
        role: role as 'main' | 'vrrp',
        pid: pid && /^\d+$/.test(pid) ? Number(pid) : undefined,
        alive: state === 'alive',
      })),
    listening: parseListening(body('listen')),
    agentServiceRestarts: /^\d+$/.test(body('restarts')) ? Number(body('restarts')) : undefined,
    drained: body('drained').trim() === 'yes',
  };
}

/** Only the agent's status: for polling while a host recovers. */
export async function readAgentOnly(remote: Remote): Promise<HostSnapshot['agent']> {
  const res = await remote.exec(SH_HEAD + AGENT_STATUS_SH, { timeoutMs: 15_000, allowFailure: true });
  const list = sections(res.stdout);
  return parseAgent(sectionBody(list, 'agent') ?? '', list.find((s) => s.name === 'agent-exit')?.args[0]);
}

function parseAgent(text: string, exit: string | undefined): HostSnapshot['agent'] {
  if (exit !== '0') return { ok: false, error: lastLines(text) || `status exited ${exit ?? '?'}` };
  try {
    const doc = JSON.parse(text) as AgentStatus & { error?: string };
    if (doc.error) return { ok: false, error: doc.error };
    return { ok: true, status: doc };
  } catch {
    return { ok: false, error: `unreadable status: ${text.slice(0, 200)}` };
  }
}

function lastLines(text: string): string {
  return text
    .trim()
    .split('\n')
    .slice(-3)
    .join(' / ')
    .replace(/^cplb-agent: /, '');
}

function parseHashes(text: string, files: readonly string[]): Map<string, string | null> {
  const found = new Map<string, string | null>();
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]{64}|-)\s+\*?(\S.*)$/.exec(line.trim());
    if (m) found.set(m[2]!, m[1] === '-' ? null : m[1]!);
  }
  return new Map(files.map((f) => [f, found.get(f) ?? null]));
}

function parseListening(text: string): Set<number> | undefined {
  if (text.trim() === 'no-ss') return undefined;
  const ports = new Set<number>();
  for (const line of text.split('\n')) {
    // LISTEN 0 511 0.0.0.0:6444 0.0.0.0:*   /   LISTEN 0 511 *:6444 *:*
    const local = line.trim().split(/\s+/)[3];
    const port = local?.slice(local.lastIndexOf(':') + 1);
    if (port && /^\d+$/.test(port)) ports.add(Number(port));
  }
  return ports;
}

export async function readSnapshot(remote: Remote, req: SnapshotRequest): Promise<HostSnapshot> {
  const res = await remote.exec(snapshotScript(req), { timeoutMs: 20_000, allowFailure: true });
  return parseSnapshot(remote.name, res.stdout, req.files);
}
