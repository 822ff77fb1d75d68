/**
 * Causing a failover on the VIP holder without losing SSH to it, and undoing it.
 *
 * graceful: the agent's own give-up channel. Writing 1 into keepalived's track file puts the instance
 *   in FAULT: keepalived drops the VIP and sends a priority-0 advert, as when the API servers go sick.
 *   The agent writes the file only when its verdict changes, so it stays until restored.
 * crash: the holder falls silent at once, as a powered-off host: the agent is frozen (SIGSTOP, so it
 *   cannot restart keepalived), keepalived's VRRP child and then its parent get SIGKILL (the child
 *   first: left alone it would exit gracefully and send priority 0; the parent frozen before, or in
 *   the moment between the two kills it sees its child die and forks a new one, an orphan that runs
 *   VRRP on the "dead" host until the agent kills it), and the VIP is deleted from the
 *   NIC. Its kernel still runs, though: a client whose ARP entry still points at it would have its
 *   SYNs REDIRECTed to the frozen proxy and ACKed, which keeps that stale entry confirmed for good (a
 *   dead host answers nothing, so the entry would fail and re-resolve). A raw-table DROP of VIP
 *   traffic makes it as silent as a powered-off host. Restoring removes the DROP and sends SIGCONT:
 *   the agent sees keepalived gone and restarts it as a BACKUP.
 *
 * Each fault leaves a watchdog on the host that undoes it after `watchdogSeconds` should cplbctl never
 * come back (killed, network lost); restore kills the watchdog first.
 */
import { RUN_DIR, TRACK_FILE } from '../../contract/paths.js';
import { shq } from '../../contract/quote.js';

export interface InjectedFault {
  /** Host clock when the fault took effect (ms). */
  atMs: number;
  watchdogPid: number | undefined;
  /** graceful: the track file inode we wrote, so restore never overwrites the agent's own later write. */
  inode?: string;
}

/** `env` prefixes the command, e.g. `ino="$ino"`: the inner shell reads it from its environment. */
const watchdog = (inner: string, seconds: number, env = '') =>
  `${env}${env ? ' ' : ''}nohup sh -c ${shq(`sleep ${seconds}; ${inner}`)} </dev/null >/dev/null 2>&1 &\necho "W $!"`;

const DROP_COMMENT = 'cplbctl verify --failover: host down';

/** raw PREROUTING rules that drop VIP traffic; `op` -I adds, -D deletes. */
function dropRules(vips: readonly string[], op: '-I' | '-D'): string {
  return vips
    .map((v) => {
      const bin = v.includes(':') ? 'ip6tables' : 'iptables';
      return `${bin} -w 5 -t raw ${op} PREROUTING -d ${shq(v)} -m comment --comment ${shq(DROP_COMMENT)} -j DROP 2>/dev/null`;
    })
    .join('; ');
}

/** `vips` as `ip` prints them (IPv6 compressed): each is deleted from whichever NIC holds it. */
export function crashScript(agentPid: number, vips: readonly string[], watchdogSeconds: number): string {
  const a = String(agentPid);
  return `a=${a}
[ -d "/proc/$a" ] || { echo "the agent (pid $a) is not running" >&2; exit 3; }
main=$(cat ${shq(`${RUN_DIR}/keepalived.pid`)} 2>/dev/null); vrrp=$(cat ${shq(`${RUN_DIR}/keepalived-vrrp.pid`)} 2>/dev/null)
[ -n "$main" ] && [ -n "$vrrp" ] || { echo 'keepalived is not running (no pid files)' >&2; exit 3; }
kill -STOP "$a" || exit 3
${watchdog(`${dropRules(vips, '-D')}; kill -CONT ${a}`, watchdogSeconds)}
${dropRules(vips, '-I')}
kill -STOP "$main"
t=$(date +%s%N)
kill -KILL "$vrrp" "$main"
ip -o addr show | while read -r _ dev _ cidr _; do
  case "\${cidr%/*}" in ${vips.map(shq).join('|') || "''"}) ip addr del "$cidr" dev "\${dev%%@*}" 2>/dev/null ;; esac
done
echo "T $t"
`;
}

export function crashRestoreScript(
  agentPid: number,
  vips: readonly string[],
  watchdogPid: number | undefined,
): string {
  const kill = watchdogPid ? `kill ${watchdogPid} 2>/dev/null\n` : '';
  return `${kill}${dropRules(vips, '-D')}\nkill -CONT ${agentPid}\n`;
}

const writeTrack = (value: 0 | 1) => {
  const f = shq(TRACK_FILE);
  const tmp = shq(`${TRACK_FILE}.cplbctl`);
  return `printf '${value}\\n' > ${tmp} && mv -f ${tmp} ${f}`;
};

export function gracefulScript(watchdogSeconds: number): string {
  const f = shq(TRACK_FILE);
  return `[ -f ${f} ] || { echo 'no track file ${TRACK_FILE}: is the agent running?' >&2; exit 3; }
printf '1\\n' > ${shq(`${TRACK_FILE}.cplbctl`)} || exit 3
t=$(date +%s%N)
mv -f ${shq(`${TRACK_FILE}.cplbctl`)} ${f} || exit 3
ino=$(stat -c %i ${f})
echo "I $ino"
${watchdog(`[ "$(stat -c %i ${f})" = "$ino" ] && ${writeTrack(0)}`, watchdogSeconds, 'ino="$ino"')}
echo "T $t"
`;
}

/** Without the inode the fault never wrote the file: leave it to the agent. */
export function gracefulRestoreScript(inode: string | undefined, watchdogPid: number | undefined): string {
  const kill = watchdogPid ? `kill ${watchdogPid} 2>/dev/null\n` : '';
  if (!inode || !/^\d+$/.test(inode)) return kill || ':\n';
  return `${kill}if [ "$(stat -c %i ${shq(TRACK_FILE)})" = ${inode} ]; then ${writeTrack(0)}; fi\n`;
}

export function parseInjected(stdout: string): InjectedFault | undefined {
  const word = (k: string) => new RegExp(`^${k} (\\S+)$`, 'm').exec(stdout)?.[1];
  const t = word('T');
  if (!t || !/^\d+$/.test(t)) return undefined;
  const w = word('W');
  const fault: InjectedFault = {
    atMs: Number(BigInt(t) / 1000n) / 1000,
    watchdogPid: w && /^\d+$/.test(w) ? Number(w) : undefined,
  };
  const ino = word('I');
  if (ino) fault.inode = ino;
  return fault;
}
