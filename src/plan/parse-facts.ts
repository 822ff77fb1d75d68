/**
 * Facts in one round trip: FACTS_SCRIPT prints every section after a marker line, and
 * parseFactsOutput turns that text into HostFacts. Each parser is pure and takes one section.
 */
import type { Cluster } from '../config/types.js';
import { SCRIPT_HEAD, sectionMap } from '../contract/script.js';
import { CplbError } from '../core/errors.js';
import { AGENT_PIDFILE, SERVICE_NAME } from '../contract/paths.js';
import { PROBE_TOOLS, type HostFacts, type OsInfo, type ProbeTool, type ToolInfo } from './facts.js';
import type { InitSystem } from '../contract/paths.js';
import { parseDefaultRoute, parseIpAddr } from './parse-net.js';
import { vipAddresses } from '../config/cluster.js';

export { parseDefaultRoute, parseIpAddr } from './parse-net.js';

/*
 * The scripts are POSIX sh (dash, busybox ash): every section tolerates a missing tool by printing
 * nothing after its marker. PATH gets the sbin dirs, which `sudo -n` or a non-login shell may leave out.
 * They run on every host on every run, so they fork as little as they can: shell builtins where a
 * builtin does (read, printf, command -v), one process per tool that must be asked, and no pipes. On a
 * lab of 30 hosts sharing two cores, each process a script starts costs about 1.4 ms of CPU per host.
 */
const PRELUDE = `${SCRIPT_HEAD}nl='
'
first() { o=$("$@" 2>&1); printf '%s\n' "\${o%%"$nl"*}"; }
`;

/**
 * OpenRC counts as the init system once it booted the host: it leaves the runlevel it reached in
 * /run/openrc/softlevel (what rc-service itself checks). The openrc package alone, on a host that
 * another init booted, also creates /run/openrc.
 *
 * What a host is: OS, init, tools. Read once per run (the Detect phase). A tool's section is its path,
 * then the first line of its version output where a version matters: iptables (its backend), node only
 * where the agent would run on it (not x86_64 glibc). keepalived's version is asked only when its config
 * test fails (phases/plan.ts): starting it costs more than everything else here together.
 */
export const OS_SCRIPT = `${PRELUDE}m hostname
read -r h 2>/dev/null </proc/sys/kernel/hostname && echo "$h" || uname -n
m arch
read -r a 2>/dev/null </proc/sys/kernel/arch || a=$(uname -m)
echo "$a"
m os
musl=
f=/etc/os-release; [ -r $f ] || f=/usr/lib/os-release
if [ -r $f ]; then
  while IFS= read -r l || [ -n "$l" ]; do
    printf '%s\n' "$l"
    case $l in ID=*alpine*|ID_LIKE=*alpine*) musl=1 ;; esac
  done <$f
fi
m init
if [ -d /run/systemd/system ]; then echo systemd
elif [ -f /run/openrc/softlevel ] && command -v openrc-run >/dev/null 2>&1; then echo openrc
else echo none; fi
m pkg; for c in apt-get dnf yum apk zypper; do if command -v $c >/dev/null 2>&1; then echo $c; break; fi; done
m keepalived; command -v keepalived
m iptables; command -v iptables && first iptables --version
m ip6tables; command -v ip6tables
m probes; for t in ${PROBE_TOOLS.join(' ')}; do command -v $t >/dev/null 2>&1 && echo $t; done
m node
if command -v node && { [ "$a" != x86_64 ] || [ -n "$musl" ]; }; then first node --version; fi
`;

/** What a host looks like now: clock, addresses, routes, the agent. Read under the lock (Gather phase). */
export const NET_SCRIPT = `${PRELUDE}m clock
if [ -n "\${EPOCHREALTIME:-}" ]; then echo "$EPOCHREALTIME"; else date +%s%N 2>/dev/null; fi
m addr; ip -j addr show 2>/dev/null
m route4; ip -4 -j route show default 2>/dev/null
m route6; ip -6 -j route show default 2>/dev/null
m agent
if [ -d /run/systemd/system ]; then systemctl is-active ${SERVICE_NAME} 2>/dev/null
elif [ -f /run/openrc/softlevel ] && command -v rc-service >/dev/null 2>&1; then
  if rc-service ${SERVICE_NAME} status >/dev/null 2>&1; then echo active; else echo inactive; fi
else
  p=; read -r p 2>/dev/null <${AGENT_PIDFILE}
  if [ -n "$p" ] && grep -q ${SERVICE_NAME} "/proc/$p/cmdline" 2>/dev/null; then echo active; else echo inactive; fi
fi
m end
`;

/** Both, in one round trip (tests, and callers that need everything at once). */
export const FACTS_SCRIPT = OS_SCRIPT + NET_SCRIPT;

export function parseOsRelease(text: string): OsInfo {
  const kv = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) kv.set(m[1]!, m[2]!.replace(/^(["'])(.*)\1$/, '$2'));
  }
  const os: OsInfo = {
    id: kv.get('ID') ?? 'linux',
    idLike: (kv.get('ID_LIKE') ?? '').split(/\s+/).filter(Boolean),
    prettyName: kv.get('PRETTY_NAME') ?? kv.get('NAME') ?? 'Linux',
  };
  const versionId = kv.get('VERSION_ID');
  if (versionId) os.versionId = versionId;
  return os;
}

export function parseInit(text: string): InitSystem {
  const word = text.trim();
  return word === 'systemd' || word === 'openrc' ? word : 'none';
}

/** A tool section: its path on the first line, the first line of its version output next. */
function parseTool(text: string, version: (line: string) => string | undefined): ToolInfo {
  const [path, output = ''] = text.split('\n').map((l) => l.trim());
  if (!path) return { present: false };
  const info: ToolInfo = { present: true, path };
  const v = version(output);
  if (v) info.version = v;
  return info;
}

/** `Keepalived v2.2.7 (01/16,2022)` (printed to stderr) → 2.2.7. */
export const keepalivedVersion = (line: string) => /^Keepalived v(\S+)/.exec(line)?.[1];
/** `iptables v1.8.9 (nf_tables)` → 1.8.9. */
export const iptablesVersion = (line: string) => /^ip6?tables v(\S+)/.exec(line)?.[1];
/** `v20.20.0` → 20.20.0. */
export const nodeVersion = (line: string) => /^v(\d+\.\d+\.\d+)/.exec(line)?.[1];

/** nf_tables or legacy; iptables before 1.8 prints no backend and is legacy. */
export function iptablesBackend(line: string): 'nft' | 'legacy' | undefined {
  if (!/^iptables v/.test(line)) return undefined;
  return /\(nf_tables\)/.test(line) ? 'nft' : 'legacy';
}

export function parsePackageManager(text: string): HostFacts['packageManager'] {
  const first = text.trim().split('\n')[0];
  if (first === 'apt-get') return 'apt';
  return first === 'dnf' || first === 'yum' || first === 'apk' || first === 'zypper' ? first : undefined;
}

/** One tool name a line, as the probes section prints them; anything else is ignored. */
export function parseProbeTools(text: string): ProbeTool[] {
  const found = new Set(text.split('\n').map((l) => l.trim()));
  return PROBE_TOOLS.filter((t) => found.has(t));
}

/**
 * bash's $EPOCHREALTIME (`1795382801.470066`, no process needed), else `date +%s%N`: nanoseconds with
 * GNU date; busybox prints seconds then a literal `N` or `%N`.
 */
export function parseClockMs(text: string): number | undefined {
  const t = text.trim();
  const real = /^(\d+)\.(\d+)$/.exec(t);
  if (real) return Math.round(Number(`${real[1]}.${real[2]}`) * 1000);
  const digits = /^\d+/.exec(t)?.[0];
  if (!digits) return undefined;
  const rest = t.slice(digits.length);
  return rest === '' && digits.length >= 16 ? Math.round(Number(digits) / 1e6) : Number(digits) * 1000;
}

/**
 * FACTS_SCRIPT's output → HostFacts. `localMs` is the local clock when the remote one was read
 * (take the midpoint of the exec), for the skew check.
 */
export function parseFactsOutput(host: string, stdout: string, cluster: Cluster, localMs: number): HostFacts {
  const s = sectionMap(stdout);
  const fail = (what: string) =>
    new CplbError(`cannot read host facts: ${what}`, {
      code: 'FACTS_UNREADABLE',
      fault: 'remote',
      host,
      phase: 'gather facts',
      hint: 'the host needs a POSIX /bin/sh, uname, date and iproute2 with JSON output (`ip -j`)',
    });
  if (!s.has('end')) throw fail('the facts script did not run to its end');
  const section = (name: string) => s.get(name) ?? '';
  const remoteMs = parseClockMs(section('clock'));
  if (remoteMs === undefined) throw fail('no clock reading ($EPOCHREALTIME or `date`)');

  let interfaces: HostFacts['interfaces'];
  let defaultRoutes: HostFacts['defaultRoutes'];
  try {
    interfaces = parseIpAddr(section('addr'), vipAddresses(cluster));
    defaultRoutes = [parseDefaultRoute(section('route4'), 4), parseDefaultRoute(section('route6'), 6)].filter(
      (r) => r !== undefined,
    );
  } catch (err) {
    throw fail((err as Error).message);
  }

  const iptablesLine = section('iptables').split('\n')[1] ?? '';
  const iptables: HostFacts['iptables'] = parseTool(section('iptables'), iptablesVersion);
  const backend = iptablesBackend(iptablesLine.trim());
  if (backend) iptables.backend = backend;
  const node = parseTool(section('node'), nodeVersion);
  const agentState = section('agent');

  // The hostname becomes keepalived's router_id: a host name, nothing a config could trip over.
  const hostname = section('hostname');
  if (hostname && !/^[A-Za-z0-9_.-]{1,253}$/.test(hostname))
    throw fail(`hostname ${JSON.stringify(hostname)} is not a host name`);

  const facts: HostFacts = {
    host,
    hostname: hostname || host,
    os: parseOsRelease(section('os')),
    init: parseInit(section('init')),
    arch: section('arch') || 'unknown',
    keepalived: parseTool(section('keepalived'), keepalivedVersion),
    iptables,
    ip6tables: parseTool(section('ip6tables'), iptablesVersion),
    probeTools: parseProbeTools(section('probes')),
    interfaces,
    defaultRoutes,
    clock: { remoteMs, localMs },
  };
  if (node.present) facts.node = node;
  const packageManager = parsePackageManager(section('pkg'));
  if (packageManager) facts.packageManager = packageManager;
  if (agentState) facts.agent = { running: agentState === 'active' };
  return facts;
}
