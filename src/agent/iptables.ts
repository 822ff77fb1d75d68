/**
 * The REDIRECT rules: VIP:apiServerPort → the proxy port, in a nat chain of our own that PREROUTING
 * (remote clients) and OUTPUT (clients on this node while it holds the VIP; the kernel redirects
 * those to 127.0.0.1/::1, which the wildcard proxy listener takes) jump to. A CNI may flush nat: the rules are re-asserted.
 *
 * And the guard: the proxy listens on a wildcard address (REDIRECT needs it), so without more anyone
 * who reaches a controller would reach the API servers through :6444 without the VIP. A filter
 * chain of the same name, jumped to from INPUT, resets every connection to the proxy port that did
 * not come through a REDIRECT (conntrack marks those DNAT, from PREROUTING and OUTPUT alike).
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, realpathSync } from 'node:fs';
import { basename, delimiter, join } from 'node:path';
import { canonicalIp, hostPort } from '../contract/net.js';
import {
  ALL_JUMPS,
  binaryNames,
  guardPorts,
  guardSpec,
  refuseSpec,
  jumpSpec,
  ruleSpec,
  saveWords,
  tableOf,
  type Binaries,
  type Family,
  type IptablesBackend,
  type JumpFrom,
  type RedirectRule,
  type RuleCheck,
  type Table,
} from '../contract/nat-rules.js';
import { errorText, type Logger } from './log.js';

function restoreQuote(arg: string): string {
  return /[\s"]/.test(arg) ? `"${arg.replace(/"/g, '\\"')}"` : arg;
}

/**
 * iptables-restore --noflush input that (re)creates the chains with exactly these rules, one
 * transaction per table: declaring a chain flushes it, and the rest of each table is left alone.
 * `rules` null: the nat chain is intact (declaring it would flush it); `guard` null: likewise the
 * filter chain. Jumps go after every copy of them is deleted, so there is never more than one.
 */
export function renderRestore(
  chain: string,
  rules: RedirectRule[] | null,
  jumps: readonly JumpFrom[] = [],
  deletes: ReadonlyArray<{ from: JumpFrom; spec: readonly string[] }> = [],
  guard: readonly number[] | null = null,
): string {
  const line = (words: string[]) => words.map(restoreQuote).join(' ');
  const section = (table: Table, body: string[]) => {
    for (const d of deletes) if (tableOf(d.from) === table) body.push(line(['-D', d.from, ...d.spec]));
    // First in line, ahead of a CNI's own jumps; in the same transaction as the chain, so a rule
    // never exists without its jump.
    for (const from of jumps)
      if (tableOf(from) === table) body.push(line(['-I', from, '1', ...jumpSpec(chain, from)]));
    return body.length ? [`*${table}`, ...body, 'COMMIT'] : [];
  };
  const nat: string[] = [];
  if (rules) {
    nat.push(`:${chain} - [0:0]`);
    for (const rule of rules) nat.push(line(['-A', chain, ...ruleSpec(rule)]));
  }
  const filter: string[] = [];
  if (guard) {
    filter.push(`:${chain} - [0:0]`);
    for (const port of guard) filter.push(line(['-A', chain, ...guardSpec(port)]));
  }
  return [...section('nat', nat), ...section('filter', filter), ''].join('\n');
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
    // A negation belongs to the option after it: `! --ctstate DNAT`.
    const option = word === '!' ? `! ${spec[++i] ?? ''}` : word;
    let value = spec[i + 1] ?? '';
    if (word === '-d' || word === '-s') {
      const [addr = '', len = ''] = value.split('/');
      value = `${canonicalIp(addr)}/${len}`;
    }
    pairs.push(`${option} ${value}`);
    i++;
  }
  return `${chain}|${pairs.sort().join('|')}`;
}

/** The keys of every rule in an iptables-save text, whatever its table. */
export function savedRuleKeys(save: string): Set<string> {
  const { tables } = parseSave(save, '');
  return new Set([...tables.values()].flatMap((keys) => [...keys]));
}

export interface SavedRules {
  /** Rule keys per table. */
  tables: Map<Table, Set<string>>;
  /** Per hook chain, every rule that jumps to `chain`, as saved (ours or not, copies included). */
  jumps: Map<JumpFrom, string[][]>;
}

/** Reads an iptables-save text: every rule's key, and every jump to `chain` with its saved words. */
function parseSave(save: string, chain: string): SavedRules {
  const tables = new Map<Table, Set<string>>([
    ['nat', new Set()],
    ['filter', new Set()],
  ]);
  const jumps = new Map<JumpFrom, string[][]>(ALL_JUMPS.map((from) => [from, []]));
  let table = 'nat';
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1).trim();
    if (!line.startsWith('-A ')) continue;
    const keys = tables.get(table as Table);
    if (!keys) continue;
    const words = saveWords(line);
    const from = words[1] ?? '';
    const spec = words.slice(2);
    keys.add(ruleKey(from, spec));
    const target = spec[spec.indexOf('-j') + 1];
    const hook = ALL_JUMPS.find((h) => h === from && tableOf(h) === table);
    if (hook && target === chain) jumps.get(hook)!.push(spec);
  }
  return { tables, jumps };
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

export interface IptablesOptions {
  backend: IptablesBackend;
  chain: string;
  log: Logger;
  run?: Runner;
  /** Resolves binary names to paths; tests pass identity. */
  resolve?: (name: string) => string | undefined;
  /** The file a path finally names (symlinks followed); tests pass a map. */
  realpath?: (path: string) => string;
}

/** How many copies of a jump stop deletes at most: only a rule re-added as fast as it goes could need more. */
const MAX_DELETES = 10_000;

const realpathOrSelf = (path: string) => {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
};

/**
 * The three binaries of one family, all of one backend: mixing (say, iptables-nft-restore to write
 * and a legacy iptables-save to read) makes every read miss what was written, and jumps pile up.
 * The backend's own names when all three exist; else the plain names when all three lead to one
 * program of that backend (Debian's alternatives: iptables -> iptables-nft -> xtables-nft-multi).
 */
export function resolveBinaries(
  backend: IptablesBackend,
  family: Family,
  resolve: (name: string) => string | undefined,
  realpath: (path: string) => string,
): Binaries {
  const names = binaryNames(backend, family);
  const own = [names.iptables, names.restore, names.save].map((name) => resolve(name));
  if (own.every(Boolean)) return { iptables: own[0]!, restore: own[1]!, save: own[2]! };
  const base = family === 4 ? 'iptables' : 'ip6tables';
  const plainNames = [base, `${base}-restore`, `${base}-save`];
  const plain = plainNames.map((name) => resolve(name));
  const missing = [names.iptables, names.restore, names.save].filter((_, i) => !own[i]);
  if (plain.every(Boolean)) {
    const programs = new Set(plain.map((p) => basename(realpath(p!))));
    const other: IptablesBackend = backend === 'nft' ? 'legacy' : 'nft';
    const [program = ''] = programs;
    if (programs.size === 1 && !program.includes(other))
      return { iptables: plain[0]!, restore: plain[1]!, save: plain[2]! };
    throw new Error(
      `${missing.join(', ')} not found, and ${plainNames.join(', ')} are not one ${backend} program ` +
        `(${[...programs].join(', ')}): install the ${backend} iptables tools`,
    );
  }
  throw new Error(`${missing.join(', ')} not found: install the ${backend} iptables tools`);
}

export class IptablesRules {
  private rules: RedirectRule[] = [];
  private readonly touched = new Set<Family>();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly run: Runner;
  private readonly resolved = new Map<Family, Binaries>();
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
    // A rule the config just added was never in place: the assert that installs it is no repair,
    // even when the periodic check gets there before the reload's own assert does.
    const before = new Set(this.rules.map((r) => ruleSpec(r).join(' ')));
    if (rules.some((r) => !before.has(ruleSpec(r).join(' ')))) this.inPlace = false;
    this.rules = rules;
  }

  families(): Family[] {
    return [...new Set(this.rules.map((r) => r.family))].sort();
  }

  /** Resolved once per family and kept: every later call of this agent uses the same backend. */
  binaries(family: Family): Binaries {
    let bin = this.resolved.get(family);
    if (!bin) {
      bin = resolveBinaries(
        this.opts.backend,
        family,
        this.opts.resolve ?? which,
        this.opts.realpath ?? realpathOrSelf,
      );
      this.resolved.set(family, bin);
    }
    return bin;
  }

  /**
   * Checks every jump and rule live: one iptables-save of the nat table per family, not an
   * `iptables -C` per rule (with the nft backend each of those fetches the whole ruleset, and on a
   * node with kube-proxy in iptables mode that is thousands of rules, every few seconds).
   */
  check(): Promise<RuleCheck[]> {
    return this.serial(async () => (await this.read()).checks);
  }

  private async read(): Promise<{ checks: RuleCheck[]; saved: Map<Family, SavedRules | undefined> }> {
    const checks: RuleCheck[] = [];
    const saved = new Map<Family, SavedRules | undefined>();
    const chain = this.opts.chain;
    for (const family of this.families()) {
      const state = await this.save(family);
      saved.set(family, state);
      const has = (table: Table, from: string, spec: string[]) =>
        state?.tables.get(table)?.has(ruleKey(from, spec)) ?? false;
      for (const from of ALL_JUMPS) {
        const present = has(tableOf(from), from, jumpSpec(chain, from));
        checks.push({ family, kind: 'jump', description: `${from} -> ${chain}`, present });
      }
      const mine = this.rules.filter((r) => r.family === family);
      for (const rule of mine) {
        const present = has('nat', chain, ruleSpec(rule));
        const description = `${hostPort(rule.vip, rule.apiServerPort)} -> :${rule.proxyPort}`;
        checks.push({ family, kind: 'redirect', description, present });
      }
      for (const port of guardPorts(mine)) {
        const present = has('filter', chain, guardSpec(port));
        checks.push({ family, kind: 'guard', description: `:${port} only from a REDIRECT`, present });
      }
    }
    this.lastChecks = checks;
    return { checks, saved };
  }

  /**
   * Makes the live rules match: rebuilds the chain if any rule is missing, and leaves exactly one
   * jump per hook (extra copies and stale forms deleted in the same transaction). A nat table that
   * cannot be read is left alone: writing blind is how jumps pile up.
   */
  assert(force = false): Promise<{ repaired: boolean }> {
    return this.serial(async () => {
      const { saved } = await this.read();
      let repaired = false;
      const unread: string[] = [];
      for (const family of [...this.touched]) {
        if (!this.families().includes(family)) await this.removeFamily(family);
      }
      for (const family of this.families()) {
        const state = saved.get(family);
        const bin = this.binaries(family);
        if (!state) {
          unread.push(bin.save);
          continue;
        }
        this.touched.add(family);
        const chain = this.opts.chain;
        const mine = this.rules.filter((r) => r.family === family);
        const nat = state.tables.get('nat')!;
        const filter = state.tables.get('filter')!;
        const rebuild = force || mine.some((r) => !nat.has(ruleKey(chain, ruleSpec(r))));
        const ports = guardPorts(mine);
        const reguard = force || ports.some((p) => !filter.has(ruleKey(chain, guardSpec(p))));
        const jumps: JumpFrom[] = [];
        const deletes: Array<{ from: JumpFrom; spec: string[] }> = [];
        for (const from of ALL_JUMPS) {
          const copies = state.jumps.get(from) ?? [];
          const ours = ruleKey(from, jumpSpec(this.opts.chain, from));
          if (copies.length === 1 && ruleKey(from, copies[0]!) === ours) continue;
          for (const spec of copies) deletes.push({ from, spec });
          jumps.push(from);
        }
        if (rebuild || reguard || jumps.length) {
          await this.must(
            bin.restore,
            ['-w', '5', '--noflush'],
            renderRestore(chain, rebuild ? mine : null, jumps, deletes, reguard ? ports : null),
          );
          repaired = true;
        }
      }
      if (repaired && this.inPlace && !force) {
        this.repairs++;
        this.lastRepairAt = new Date().toISOString();
      }
      if (repaired) {
        this.inPlace = true;
        this.reasserts++;
        this.opts.log.info('iptables rules asserted', { chain: this.opts.chain, rules: this.rules.length });
        this.lastChecks = this.lastChecks.map((c) => (saved.get(c.family) ? { ...c, present: true } : c));
      }
      if (unread.length) {
        throw new Error(`cannot read the rules (${unread.join(', ')} failed): rules left as they are`);
      }
      if (this.families().length) this.inPlace = true;
      return { repaired };
    });
  }

  /**
   * A stopping agent takes no new connection: its SYNs are dropped from here on. One that a
   * holder's redirect still took in the moment between giving the VIP up and the next holder's
   * gratuitous ARP would be cut as soon as the client's next packet reaches the new holder (a
   * reset: measured by test/e2e/apply-upgrade.test.ts); dropped, the client resends its SYN in a
   * second, to the new holder. Connections already open go on and drain. remove() takes it away.
   */
  refuseNewConnections(): Promise<void> {
    return this.forEachRefuseRule(async (bin, port, family) => {
      const res = await this.run(bin, [
        '-w',
        '5',
        '-t',
        'filter',
        '-I',
        this.opts.chain,
        '1',
        ...refuseSpec(port),
      ]);
      if (res.code !== 0)
        this.opts.log.warn('could not refuse new connections while stopping', {
          family,
          port,
          error: res.stderr.trim(),
        });
    });
  }

  /** Takes refuseNewConnections back (a hand-off's quiesce that ended): deletes every copy of the rule. */
  allowNewConnections(): Promise<void> {
    return this.forEachRefuseRule(async (bin, port) => {
      for (let i = 0; i < 8; i++) {
        const res = await this.run(bin, [
          '-w',
          '5',
          '-t',
          'filter',
          '-D',
          this.opts.chain,
          ...refuseSpec(port),
        ]);
        if (res.code !== 0) break;
      }
    });
  }

  /** The refuse rule's places: each guarded proxy port, in each family this agent touched. */
  private forEachRefuseRule(fn: (bin: string, port: number, family: Family) => Promise<void>): Promise<void> {
    return this.serial(async () => {
      const ports = guardPorts(this.rules);
      for (const family of this.families()) {
        if (!this.touched.has(family)) continue;
        const bin = this.binaries(family).iptables;
        for (const port of ports) await fn(bin, port, family);
      }
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
    let bin: string;
    try {
      bin = this.binaries(family).iptables;
    } catch (err) {
      this.opts.log.error('cannot remove iptables rules', { family, error: errorText(err) });
      return;
    }
    for (const table of ['nat', 'filter'] as const) {
      const t = ['-w', '5', '-t', table];
      for (const from of ALL_JUMPS.filter((h) => tableOf(h) === table)) {
        // Delete every copy: an earlier crash, or a table that could not be read, may have left several.
        for (let i = 0; i < MAX_DELETES; i++) {
          const res = await this.run(bin, [...t, '-D', from, ...jumpSpec(this.opts.chain, from)]);
          if (res.code !== 0) break;
        }
      }
      await this.run(bin, [...t, '-F', this.opts.chain]);
      const res = await this.run(bin, [...t, '-X', this.opts.chain]);
      if (res.code === 0)
        this.opts.log.info('iptables chain removed', { chain: this.opts.chain, family, table });
    }
    this.touched.delete(family);
  }

  /** The saved rules, or undefined when they cannot be read. */
  private async save(family: Family): Promise<SavedRules | undefined> {
    let bin: string;
    try {
      bin = this.binaries(family).save;
    } catch (err) {
      this.opts.log.warn('iptables check failed', { family, error: errorText(err) });
      return undefined;
    }
    // One read of every table (nat for the REDIRECT, filter for the guard): one ruleset fetch.
    const res = await this.run(bin, []);
    if (res.code === 0) return parseSave(res.stdout, this.opts.chain);
    this.opts.log.warn('iptables check failed', { cmd: bin, code: res.code, stderr: res.stderr.trim() });
    return undefined;
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
