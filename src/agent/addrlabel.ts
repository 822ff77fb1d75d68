/**
 * k0s's addressLabel: while this node holds an IPv6 VIP, `ip addrlabel` holds `prefix VIP/128 label
 * N`. Under RFC 6724 source address selection a label unlike the destination's makes the kernel
 * prefer the node's real address for its own traffic, where the VIP would otherwise often win
 * (longest matching prefix). k0s sets the entry over netlink; the agent uses iproute2's `ip`.
 * Entries for other prefixes, and a VIP's entry carrying a label that is not ours, are left alone.
 */
import { addressLabelOf, type AgentVip } from '../contract/agent-config.js';
import { canonicalIp, ipFamily } from '../contract/net.js';
import { execRunner, type Runner } from './iptables.js';
import type { Logger } from './log.js';

export interface LabelEntry {
  prefix: string;
  length: number;
  dev?: string;
  label: number;
}

const LINE = /^prefix (\S+)\/(\d+)(?: dev (\S+))? label (\d+)\s*$/;

/** `ip -6 addrlabel list`: one `prefix ADDR/LEN [dev IF] label N` per line. */
export function parseAddrlabelList(text: string): LabelEntry[] {
  return text.split('\n').flatMap((line) => {
    const m = LINE.exec(line.trim());
    if (!m || ipFamily(m[1]!) !== 6) return [];
    const e: LabelEntry = { prefix: canonicalIp(m[1]!), length: Number(m[2]), label: Number(m[4]) };
    if (m[3] !== undefined) e.dev = m[3];
    return [e];
  });
}

/** One IPv6 VIP: whether this node holds it, and the label its entry must carry then. */
export interface LabelWant {
  address: string;
  label: number;
  held: boolean;
}

/** The IPv6 VIPs of a config, held or not by the set of this node's addresses (canonical). */
export function labelWants(vips: readonly AgentVip[], local: ReadonlySet<string>): LabelWant[] {
  return vips
    .filter((v) => v.family === 6)
    .map((v) => ({ address: v.address, label: addressLabelOf(v), held: local.has(canonicalIp(v.address)) }));
}

/** On a reload: the old config's entries the new one no longer wants (VIP gone, or a new label), as not held. */
export function retiredWants(old: readonly LabelWant[], next: readonly LabelWant[]): LabelWant[] {
  const kept = new Set(next.map((n) => `${canonicalIp(n.address)} ${n.label}`));
  return old
    .filter((o) => !kept.has(`${canonicalIp(o.address)} ${o.label}`))
    .map((o) => ({ ...o, held: false }));
}

export interface LabelChange {
  op: 'add' | 'del';
  address: string;
  label: number;
}

/**
 * What to run to get from `table` to `wants`: a held VIP gets its entry (one with another label is
 * replaced, as k0s's NLM_F_REPLACE does); a VIP not held loses its entry only when the label is
 * ours. The kernel deletes by prefix whatever the label, so the label is checked here first.
 */
export function labelChanges(wants: readonly LabelWant[], table: readonly LabelEntry[]): LabelChange[] {
  const changes: LabelChange[] = [];
  for (const w of wants) {
    const key = canonicalIp(w.address);
    const entry = table.find((e) => e.length === 128 && e.dev === undefined && e.prefix === key);
    if (w.held && entry?.label !== w.label) {
      if (entry) changes.push({ op: 'del', address: w.address, label: entry.label });
      changes.push({ op: 'add', address: w.address, label: w.label });
    } else if (!w.held && entry?.label === w.label) {
      changes.push({ op: 'del', address: w.address, label: w.label });
    }
  }
  return changes;
}

/**
 * Keeps the table in line with the VIPs this node holds. Each sync reads the table with one `ip`
 * call, and only when something may have changed (a VRRP event, a new config, stop, or a different
 * set of held VIPs at the periodic check): a node with no IPv6 VIP never forks for it.
 */
export class AddressLabels {
  private last: string | undefined;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly log: Logger,
    private readonly run: Runner = execRunner,
  ) {}

  /** force: read the table even if the held set looks the same as at the last successful sync. */
  sync(wants: readonly LabelWant[], force = false): Promise<void> {
    this.queue = this.queue.then(() => this.doSync(wants, force));
    return this.queue;
  }

  private async doSync(wants: readonly LabelWant[], force: boolean): Promise<void> {
    const key = JSON.stringify(wants);
    if (wants.length === 0 || (!force && key === this.last)) return;
    this.last = undefined;
    const listed = await this.run('ip', ['-6', 'addrlabel', 'list']);
    if (listed.code !== 0) {
      this.log.warn('cannot read ip addrlabel', { error: listed.stderr.trim() });
      return;
    }
    let ok = true;
    for (const c of labelChanges(wants, parseAddrlabelList(listed.stdout))) {
      const res = await this.run('ip', [
        '-6',
        'addrlabel',
        c.op,
        'prefix',
        `${c.address}/128`,
        'label',
        String(c.label),
      ]);
      const fields = { vip: c.address, label: c.label };
      if (res.code === 0) this.log.info(c.op === 'add' ? 'addrlabel set' : 'addrlabel removed', fields);
      else {
        ok = false;
        this.log.warn(`cannot ${c.op === 'add' ? 'set' : 'remove'} addrlabel`, {
          ...fields,
          error: res.stderr.trim(),
        });
      }
    }
    if (ok) this.last = key;
  }
}
