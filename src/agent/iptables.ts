/**
 * The REDIRECT rules: VIP:apiServerPort → the proxy port, in a nat chain of our own that PREROUTING
 * (remote clients) and OUTPUT (clients on this node while it holds the VIP; the kernel redirects
 * those to 127.0.0.1/::1, which the wildcard proxy listener takes) jump to. A CNI may flush nat: the rules are re-asserted.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { canonicalIp } from '../config/net.js';
import type { AgentVip } from './config.js';
import { errorText, type Logger } from './log.js';

export type IptablesBackend = 'nft' | 'legacy';
export type Family = 4 | 6;
export const JUMP_FROM = ['PREROUTING', 'OUTPUT'] as const;
export type JumpFrom = (typeof JUMP_FROM)[number];

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

export function ruleComment(rule: RedirectRule): string {
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

/**
 * OUTPUT jumps only for local destinations: a node's own client reaches the VIP through its local
 * proxy while it holds the VIP, and over the wire to the holder otherwise (a FAULT node's proxy,
 * with no healthy upstream, must not swallow its own clients' connections).
 */
export function jumpSpec(chain: string, from: JumpFrom): string[] {
  const local = from === 'OUTPUT' ? ['-m', 'addrtype', '--dst-type', 'LOCAL'] : [];
  return [...local, '-m', 'comment', '--comment', `cplb: jump to ${chain}`, '-j', chain];
}

function restoreQuote(arg: string): string {
  return /[\s"]/.test(arg) ? `"${arg.replace(/"/g, '\\"')}"` : arg;
}

/**
 * iptables-restore --noflush input that (re)creates the chain with exactly these rules in one
 * transaction: declaring a chain flushes it, and the rest of the nat table is left alone.
 */
export function renderRestore(
  chain: string,
  rules: RedirectRule[] | null,
  jumps: readonly JumpFrom[] = [],
): string {
  const lines = ['*nat'];
  // rules null: the chain is intact and only jumps are missing (declaring it would flush it).
  if (rules) {
    lines.push(`:${chain} - [0:0]`);
    for (const rule of rules) lines.push(['-A', chain, ...ruleSpec(rule)].map(restoreQuote).join(' '));
  }
  // First in line, ahead of a CNI's own nat jumps; in the same transaction as the chain, so a
  // rule never exists without its jump.
  for (const from of jumps)
    lines.push(['-I', from, '1', ...jumpSpec(chain, from)].map(restoreQuote).join(' '));
  lines.push('COMMIT', '');
  return lines.join('\n');
}

/** Splits an iptables-save line into words; "quoted strings" (with \" inside) are one word. */
export function saveWords(line: string): string[] {
  const words: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line))
    words.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!);
  return words;
}

/**
 * A rule as a comparable key: its chain and its options, sorted, without module loads (`-m tcp`,
 * which iptables-save adds by itself) and with addresses in canonical form. Two rules with the same
 * key match the same packets the same way, as far as `iptables -C` would tell.
 */
export function ruleKey(chain: string, spec: readonly string[]): string {
  const pairs: string[] = [];
  for (let i = 0; i < spec.length; i++) {
    const word = spec[i]!;
    if (word === '-m') {
      i++;
      continue;
    }
    let value = spec[i + 1] ?? '';
    if (word === '-d' || word === '-s') {
      const [addr = '', len = ''] = value.split('/');
      value = `${canonicalIp(addr)}/${len}`;
    }
    pairs.push(`${word} ${value}`);
    i++;
  }
  return `${chain}|${pairs.sort().join('|')}`;
}

/** The keys of every rule in an iptables-save text. */
export function savedRuleKeys(save: string): Set<string> {
  const keys = new Set<string>();
  for (const line of save.split('\n')) {
    if (!line.startsWith('-A ')) continue;
    const words = saveWords(line);
    keys.add(ruleKey(words[1] ?? '', words.slice(2)));
  }
  return keys;
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

const SBIN = ['/usr/sbin', '/sbin', '/usr/local/sbin'];

/** Absolute path of a command: PATH plus the sbin dirs (a bare daemon may run with a thin PATH). */
export function which(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of [...path.split(delimiter).filter(Boolean), ...SBIN]) {
    const full = join(dir, name);
    try {
      accessSync(full, constants.X_OK);
      return full;
    } catch {
      // not here
    }
  }
  return undefined;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}
export type Runner = (cmd: string, args: string[], stdin?: string) => Promise<RunResult>;

export const execRunner: Runner = (cmd, args, stdin) =>
  new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: 15_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 127) : 0;
      resolve({ code, stdout, stderr: stderr || (err && !stderr ? errorText(err) : '') });
    });
    // A command that exits without reading its stdin must not crash the agent with EPIPE.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(stdin ?? '');
  });

export interface RuleCheck {
  family: Family;
  kind: 'jump' | 'redirect';
  description: string;
  present: boolean;
}

export interface IptablesOptions {
  backend: IptablesBackend;
  chain: string;
  log: Logger;
  run?: Runner;
  /** Resolves binary names to paths; tests pass identity. */
  resolve?: (name: string) => string | undefined;
}

export class IptablesRules {
  private rules: RedirectRule[] = [];
  private readonly touched = new Set<Family>();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly run: Runner;
  reasserts = 0;
  /** Rules found missing after they had been in place (a CNI flushing nat, a hand edit), and put back. */
  repairs = 0;
  lastRepairAt: string | undefined;
  private inPlace = false;
  lastChecks: RuleCheck[] = [];

  constructor(private readonly opts: IptablesOptions) {
    this.run = opts.run ?? execRunner;
  }

  /** Takes effect at the next assert(); families left without rules are cleaned up then. */
  setRules(rules: RedirectRule[]): void {
    this.rules = rules;
  }

  families(): Family[] {
    return [...new Set(this.rules.map((r) => r.family))].sort();
  }

  binaries(family: Family): Binaries {
    const names = binaryNames(this.opts.backend, family);
    const resolve = this.opts.resolve ?? which;
    // Some distros ship only the plain name for their one backend: fall back to it.
    const plain = family === 4 ? 'iptables' : 'ip6tables';
    return {
      iptables: resolve(names.iptables) ?? resolve(plain) ?? names.iptables,
      restore: resolve(names.restore) ?? resolve(`${plain}-restore`) ?? names.restore,
      save: resolve(names.save) ?? resolve(`${plain}-save`) ?? names.save,
    };
  }

  /**
   * Checks every jump and rule live: one iptables-save of the nat table per family, not an
   * `iptables -C` per rule (with the nft backend each of those fetches the whole ruleset, and on a
   * node with kube-proxy in iptables mode that is thousands of rules, every few seconds).
   */
  check(): Promise<RuleCheck[]> {
    return this.serial(async () => {
      const checks: RuleCheck[] = [];
      for (const family of this.families()) {
        const present = await this.savedKeys(this.binaries(family).save);
        const has = (chain: string, spec: string[]) => present.has(ruleKey(chain, spec));
        for (const from of JUMP_FROM) {
          checks.push({
            family,
            kind: 'jump',
            description: `${from} -> ${this.opts.chain}`,
            present: has(from, jumpSpec(this.opts.chain, from)),
          });
        }
        for (const rule of this.rules.filter((r) => r.family === family)) {
          const present = has(this.opts.chain, ruleSpec(rule));
          const description = `${rule.vip}:${rule.apiServerPort} -> :${rule.proxyPort}`;
          checks.push({ family, kind: 'redirect', description, present });
        }
      }
      this.lastChecks = checks;
      return checks;
    });
  }

  /** Makes the live rules match: rebuilds the chain if any rule is missing, adds missing jumps. */
  async assert(force = false): Promise<{ repaired: boolean }> {
    const checks = await this.check();
    return this.serial(async () => {
      let repaired = false;
      for (const family of [...this.touched]) {
        if (!this.families().includes(family)) await this.removeFamily(family);
      }
      for (const family of this.families()) {
        const mine = checks.filter((c) => c.family === family);
        const bin = this.binaries(family);
        this.touched.add(family);
        const rebuild = force || mine.some((c) => c.kind === 'redirect' && !c.present);
        const jumps = JUMP_FROM.filter(
          (from) => !mine.some((c) => c.kind === 'jump' && c.description.startsWith(from) && c.present),
        );
        if (rebuild || jumps.length) {
          const rules = rebuild ? this.rules.filter((r) => r.family === family) : null;
          await this.must(
            bin.restore,
            ['-w', '5', '--noflush'],
            renderRestore(this.opts.chain, rules, jumps),
          );
          repaired = true;
        }
      }
      if (repaired && this.inPlace && !force) {
        this.repairs++;
        this.lastRepairAt = new Date().toISOString();
      }
      this.inPlace = true;
      if (repaired) {
        this.reasserts++;
        this.opts.log.info('iptables rules asserted', { chain: this.opts.chain, rules: this.rules.length });
        this.lastChecks = this.lastChecks.map((c) => ({ ...c, present: true }));
      }
      return { repaired };
    });
  }

  /** Removes jumps, flushes and deletes the chain in every family this agent touched. */
  remove(): Promise<void> {
    return this.serial(async () => {
      for (const family of new Set([...this.touched, ...this.families()])) await this.removeFamily(family);
      this.lastChecks = [];
    });
  }

  private async removeFamily(family: Family): Promise<void> {
    const bin = this.binaries(family).iptables;
    const nat = ['-w', '5', '-t', 'nat'];
    for (const from of JUMP_FROM) {
      // Delete every copy: an earlier crash may have left a duplicate jump.
      for (let i = 0; i < 10; i++) {
        const res = await this.run(bin, [...nat, '-D', from, ...jumpSpec(this.opts.chain, from)]);
        if (res.code !== 0) break;
      }
    }
    await this.run(bin, [...nat, '-F', this.opts.chain]);
    const res = await this.run(bin, [...nat, '-X', this.opts.chain]);
    if (res.code === 0) this.opts.log.info('iptables chain removed', { chain: this.opts.chain, family });
    this.touched.delete(family);
  }

  /** The nat table's rules; none when it cannot be read (then assert() rewrites, and says why if that fails). */
  private async savedKeys(bin: string): Promise<Set<string>> {
    const res = await this.run(bin, ['-t', 'nat']);
    if (res.code === 0) return savedRuleKeys(res.stdout);
    this.opts.log.warn('iptables check failed', { cmd: bin, code: res.code, stderr: res.stderr.trim() });
    return new Set();
  }

  private async must(cmd: string, args: string[], stdin?: string): Promise<void> {
    const res = await this.run(cmd, args, stdin);
    if (res.code !== 0) {
      throw new Error(`${cmd} ${args.join(' ')} failed (exit ${res.code}): ${res.stderr.trim()}`);
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }
}
