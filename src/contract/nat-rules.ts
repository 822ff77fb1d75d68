/**
 * The nat-rule grammar the agent installs and cplbctl reads back: the REDIRECT rule per VIP, the
 * guard on the proxy port, the jumps from the hooks, and how iptables-save prints them. The agent
 * (src/agent/iptables.ts) applies them; the planner, reset and status describe and check the same words.
 */
import type { AgentVip } from './agent-config.js';

export type IptablesBackend = 'nft' | 'legacy';
export type Family = 4 | 6;
export type Table = 'nat' | 'filter';
/** The nat hooks that jump to the REDIRECT chain. */
export const JUMP_FROM = ['PREROUTING', 'OUTPUT'] as const;
/** Every hook that jumps to a chain of ours: the nat ones and the filter INPUT (the guard). */
export const ALL_JUMPS = [...JUMP_FROM, 'INPUT'] as const;
export type JumpFrom = (typeof ALL_JUMPS)[number];
export const tableOf = (from: JumpFrom): Table => (from === 'INPUT' ? 'filter' : 'nat');

export interface RedirectRule {
  family: Family;
  vip: string;
  apiServerPort: number;
  proxyPort: number;
  instanceName: string;
}

export function redirectRules(vips: AgentVip[], proxyPort: number): RedirectRule[] {
  return vips.map((v) => ({
    family: v.family,
    vip: v.address,
    apiServerPort: v.apiServerPort,
    proxyPort,
    instanceName: v.instanceName,
  }));
}

function ruleComment(rule: RedirectRule): string {
  return `cplb: ${rule.instanceName} ${rule.vip}:${rule.apiServerPort}`;
}

/** The rule's match and target, as iptables -A/-C/-D take them after the chain name. */
export function ruleSpec(rule: RedirectRule): string[] {
  const host = rule.family === 4 ? `${rule.vip}/32` : `${rule.vip}/128`;
  return [
    '-d', host, '-p', 'tcp', '--dport', String(rule.apiServerPort),
    '-m', 'comment', '--comment', ruleComment(rule),
    '-j', 'REDIRECT', '--to-ports', String(rule.proxyPort),
  ]; // prettier-ignore
}

const GUARD_COMMENT = 'cplb: only connections redirected from a VIP';

/** The filter rule that resets connections to the proxy port that no REDIRECT brought there. */
export function guardSpec(proxyPort: number): string[] {
  return [
    '-p', 'tcp', '--dport', String(proxyPort),
    '-m', 'conntrack', '!', '--ctstate', 'DNAT',
    '-m', 'comment', '--comment', GUARD_COMMENT,
    '-j', 'REJECT', '--reject-with', 'tcp-reset',
  ]; // prettier-ignore
}

/** While the agent stops: new connections to the proxy port get no answer (see IptablesRules.refuseNewConnections). */
export function refuseSpec(proxyPort: number): string[] {
  return [
    '-p', 'tcp', '--dport', String(proxyPort), '--syn',
    '-m', 'comment', '--comment', 'cplb: stopping, new connections go to the next holder',
    '-j', 'DROP',
  ]; // prettier-ignore
}

/** The proxy ports the guard covers (one, unless a reload is moving it). */
export function guardPorts(rules: readonly RedirectRule[]): number[] {
  return [...new Set(rules.map((r) => r.proxyPort))].sort((a, b) => a - b);
}

/**
 * OUTPUT jumps only for local destinations: a node's own client reaches the VIP through its local
 * proxy while it holds the VIP, and over the wire to the holder otherwise (a FAULT node's proxy,
 * with no healthy upstream, must not swallow its own clients' connections).
 */
export function jumpSpec(chain: string, from: JumpFrom): string[] {
  const local = from === 'OUTPUT' ? ['-m', 'addrtype', '--dst-type', 'LOCAL'] : [];
  return [...local, '-m', 'comment', '--comment', `cplb: jump to ${chain}`, '-j', chain];
}

/** Splits an iptables-save line into words; "quoted strings" (with \" inside) are one word. */
export function saveWords(line: string): string[] {
  const words: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line))
    words.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!);
  return words;
}

export interface Binaries {
  iptables: string;
  restore: string;
  save: string;
}

/** iptables-nft / ip6tables-legacy etc. The backend must match what the CNI uses, or rules split. */
export function binaryNames(backend: IptablesBackend, family: Family): Binaries {
  const base = family === 4 ? 'iptables' : 'ip6tables';
  return {
    iptables: `${base}-${backend}`,
    restore: `${base}-${backend}-restore`,
    save: `${base}-${backend}-save`,
  };
}

export interface RuleCheck {
  family: Family;
  kind: 'jump' | 'redirect' | 'guard';
  description: string;
  present: boolean;
}
