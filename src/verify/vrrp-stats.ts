/**
 * keepalived's own VRRP counters. SIGUSR2 (`keepalived --signum=STATS`) makes it write
 * /tmp/keepalived.stats: per instance, adverts received and sent, authentication and packet errors.
 * Read before and after a window, they tell a blocked network (several masters, nothing received)
 * from a password mismatch (adverts arrive, fail authentication) without tcpdump.
 */

export interface VrrpCounters {
  received: number;
  sent: number;
  becameMaster: number;
  authFailures: number;
  /** Adverts with another advert_int, or another VIP list: the configs differ. */
  intervalErrors: number;
  addressListErrors: number;
  priorityZeroReceived: number;
}

const FIELDS: Record<string, keyof VrrpCounters> = {
  'Advertisements.Received': 'received',
  'Advertisements.Sent': 'sent',
  'Became master': 'becameMaster',
  'Authentication Errors.Failure': 'authFailures',
  'Authentication Errors.Type Mismatch': 'authFailures',
  'Authentication Errors.Invalid Type': 'authFailures',
  'Packet Errors.Advertisement Interval': 'intervalErrors',
  'Packet Errors.Address List': 'addressListErrors',
  'Priority Zero.Received': 'priorityZeroReceived',
};

/** Every counter at 0: the start of a sum, and of a test's counters. */
export const zeroCounters = (): VrrpCounters => ({
  received: 0,
  sent: 0,
  becameMaster: 0,
  authFailures: 0,
  intervalErrors: 0,
  addressListErrors: 0,
  priorityZeroReceived: 0,
});

export function parseVrrpStats(text: string): Map<string, VrrpCounters> {
  const out = new Map<string, VrrpCounters>();
  let current: VrrpCounters | undefined;
  let group = '';
  for (const raw of text.split('\n')) {
    const inst = /^VRRP Instance:\s*(\S+)/.exec(raw);
    if (inst) {
      current = zeroCounters();
      out.set(inst[1]!, current);
      group = '';
      continue;
    }
    const m = /^(\s*)([^:]+):\s*(\d+)?\s*$/.exec(raw);
    if (!m || !current) continue;
    const [, indent = '', key = '', value] = m;
    if (value === undefined) {
      group = key.trim();
      continue;
    }
    const name = indent.length > 2 && group ? `${group}.${key.trim()}` : key.trim();
    if (indent.length <= 2) group = '';
    const field = FIELDS[name];
    if (field) current[field] += Number(value);
  }
  return out;
}

export function counterDelta(
  before: VrrpCounters | undefined,
  after: VrrpCounters | undefined,
): VrrpCounters | undefined {
  if (!before || !after) return undefined;
  const d = zeroCounters();
  for (const k of Object.keys(d) as (keyof VrrpCounters)[]) d[k] = after[k] - before[k];
  // A keepalived restart in between resets the counters: the delta means nothing then.
  return Object.values(d).some((v) => v < 0) ? undefined : d;
}

/** Shell that prints the stats file after a SIGUSR2, or nothing when keepalived is not running. */
export function statsDumpShell(pidFile: string): string {
  return `stats() {
  pid=$(cat ${pidFile} 2>/dev/null)
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 0
  f="/proc/$pid/root/tmp/keepalived.stats"
  sig=$(keepalived --signum=STATS 2>/dev/null); [ -n "$sig" ] || sig=12
  rm -f "$f"; kill -"$sig" "$pid" 2>/dev/null || return 0
  i=0; while [ ! -s "$f" ] && [ "$i" -lt 50 ]; do sleep 0.02; i=$((i + 1)); done
  sleep 0.02; cat "$f" 2>/dev/null
}
`;
}
