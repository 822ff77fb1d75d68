/**
 * `cplbctl reset`: one POSIX sh script per host that takes away everything apply put there, in the
 * order that keeps the VIP from lingering: the service first (the agent's own stop hands the VIP
 * over and removes its rules), then what a dead agent may have left (keepalived, nat rules, VIPs),
 * then the files. Packages apply installed (keepalived, iptables) stay: other software may use them.
 *
 * It prints `did: ...` for each thing it removed and, after checking, `left: ...` for anything
 * still there; nothing else on stdout.
 */
import type { InitSystem } from '../contract/paths.js';
import { ALL_JUMPS, tableOf } from '../contract/nat-rules.js';
import { pidFiles } from '../contract/keepalived.js';
import { printedIp } from '../contract/net.js';
import { shq } from '../contract/quote.js';
import {
  AGENT_DIR,
  AGENT_LOG,
  CHAIN,
  CONFIG_DIR,
  KEEPALIVED_CONF,
  OPENRC_SCRIPT,
  PLAIN_LAUNCHER,
  RUN_DIR,
  SERVICE_NAME,
  stagedPath,
  SYSTEMD_UNIT,
} from '../contract/paths.js';
import { SCRIPT_PATH } from '../contract/script.js';

export interface ResetInput {
  init: InitSystem;
  /** The cluster's VIP addresses: any still on this host once keepalived is gone is stale. */
  vips: readonly string[];
}

/** table:hook pairs that jump to a chain of ours. */
const HOOKS = ALL_JUMPS.map((from) => `${tableOf(from)}:${from}`).join(' ');
/** The agent starts keepalived with its pid files in the run directory. */
const KEEPALIVED_PID = pidFiles(RUN_DIR).main;
/** Each name with its own -save: with the nft backend `iptables` and `iptables-nft` are one table. */
const IPTABLES = [
  'iptables',
  'iptables-nft',
  'iptables-legacy',
  'ip6tables',
  'ip6tables-nft',
  'ip6tables-legacy',
];

/** Stops the agent (which stops keepalived and removes its rules), then its service definition. */
function stopService(init: InitSystem): string {
  const svc = SERVICE_NAME;
  if (init === 'systemd')
    return `if [ -e ${SYSTEMD_UNIT} ]; then
  systemctl stop ${svc} >/dev/null 2>&1
  if systemctl is-active --quiet ${svc}; then echo "left: ${svc} still runs (systemctl stop failed)"; exit 0; fi
  systemctl disable ${svc} >/dev/null 2>&1
  rm -f ${SYSTEMD_UNIT}; systemctl daemon-reload; systemctl reset-failed ${svc} >/dev/null 2>&1
  echo "did: stopped and removed the systemd service ${svc}"
fi`;
  if (init === 'openrc')
    return `if [ -e ${OPENRC_SCRIPT} ]; then
  rc-service ${svc} stop >/dev/null 2>&1
  if rc-service ${svc} status >/dev/null 2>&1; then echo "left: ${svc} still runs (rc-service stop failed)"; exit 0; fi
  rc-service ${svc} zap >/dev/null 2>&1
  rc-update del ${svc} default >/dev/null 2>&1
  rm -f ${OPENRC_SCRIPT}
  echo "did: stopped and removed the OpenRC service ${svc}"
fi`;
  return `if [ -x ${PLAIN_LAUNCHER} ]; then
  ${PLAIN_LAUNCHER} stop >/dev/null 2>&1
  if ${PLAIN_LAUNCHER} status >/dev/null 2>&1; then echo "left: ${svc} still runs (${PLAIN_LAUNCHER} stop failed)"; exit 0; fi
  echo "did: stopped ${svc} (no init system)"
fi`;
}

export function renderResetScript(input: ResetInput): string {
  // The patterns match an address as ip prints it, whatever prefix length it was added with.
  const vipCases = input.vips.map((v) => `${shq(`${printedIp(v)}/`)}*`).join('|');
  const vipScan = (action: string) => `ip -o addr show 2>/dev/null | while read -r _ dev _ addr _; do
  case "$addr" in
  ${vipCases}) ${action} ;;
  esac
done
`;
  return `#!/bin/sh
# cplbctl reset: stop cplb-agent and remove everything apply installed. A service that will not
# stop ends the script at once: its files stay, so a later reset (or apply) still finds them.
PATH=${SCRIPT_PATH}
${stopService(input.init)}

# keepalived outlives a killed agent only for a moment (its parent-death signal), but never leave
# one. By its pid file: on hosts that share a PID namespace, a process scan would find the others'.
ka=
read -r ka 2>/dev/null <${shq(KEEPALIVED_PID)}
ours() { [ -n "$ka" ] && grep -q -- ${shq(KEEPALIVED_CONF)} "/proc/$ka/cmdline" 2>/dev/null; }
if ours; then
  kill -TERM "$ka" 2>/dev/null
  i=0; while ours && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  echo "did: stopped keepalived (pid $ka)"
fi

# The agent removes its rules when it stops; a killed one leaves them: the nat chain (REDIRECT) and
# the filter chain (the proxy port's guard). Jumps go by number (from the last), whatever their
# comment; -X then fails only while something else still jumps.
for ipt in ${IPTABLES.join(' ')}; do
  command -v "$ipt" >/dev/null 2>&1 && command -v "$ipt-save" >/dev/null 2>&1 || continue
  for hook in ${HOOKS}; do
    table=\${hook%%:*} from=\${hook#*:}
    "$ipt-save" -t "$table" 2>/dev/null | grep -q '^:${CHAIN} ' || continue
    for n in $("$ipt" -w 5 -t "$table" -L "$from" -n --line-numbers 2>/dev/null | awk '$2 == "${CHAIN}" { print $1 }' | sort -rn); do
      "$ipt" -w 5 -t "$table" -D "$from" "$n"
    done
  done
  for table in nat filter; do
    "$ipt-save" -t "$table" 2>/dev/null | grep -q '^:${CHAIN} ' || continue
    "$ipt" -w 5 -t "$table" -F ${CHAIN} 2>/dev/null && "$ipt" -w 5 -t "$table" -X ${CHAIN} 2>/dev/null &&
      echo "did: removed the $table chain ${CHAIN} and its jumps ($ipt)"
  done
done
${
  input.vips.length === 0
    ? ''
    : `
# keepalived removes its VIPs when it stops; one killed with -9 leaves them on the interface.
${vipScan('ip addr del "$addr" dev "$dev" && echo "did: removed the VIP $addr from $dev"')}`
}
# A service definition an apply staged and never switched in (its run was cut) goes too.
for f in ${CONFIG_DIR} ${AGENT_DIR} ${RUN_DIR} ${AGENT_LOG} ${stagedPath(SYSTEMD_UNIT)} ${stagedPath(OPENRC_SCRIPT)}; do
  [ -e "$f" ] && rm -rf "$f" && echo "did: removed $f"
done

# What is still there, a line each: the caller fails the host on any.
for f in ${CONFIG_DIR} ${AGENT_DIR} ${RUN_DIR} ${SYSTEMD_UNIT} ${OPENRC_SCRIPT}; do
  [ -e "$f" ] && echo "left: $f"
done
ours && echo "left: keepalived (pid $ka)"
for ipt in ${IPTABLES.join(' ')}; do
  command -v "$ipt-save" >/dev/null 2>&1 || continue
  for table in nat filter; do
    "$ipt-save" -t "$table" 2>/dev/null | grep -q '^:${CHAIN} ' && echo "left: the $table chain ${CHAIN} ($ipt)"
  done
done
${input.vips.length === 0 ? '' : vipScan('echo "left: the VIP $addr on $dev"')}exit 0
`;
}

/** The script's report: what it removed, and what is still there. */
export function parseResetOutput(stdout: string): { did: string[]; left: string[] } {
  const lines = stdout.split('\n');
  const after = (prefix: string) =>
    lines.filter((l) => l.startsWith(prefix)).map((l) => l.slice(prefix.length).trim());
  return { did: after('did: '), left: after('left: ') };
}
