import { describe, expect, it } from 'vitest';
import {
  binaryNames,
  jumpSpec,
  redirectRules,
  guardSpec,
  ruleSpec,
  saveWords,
} from '../../src/contract/nat-rules.js';
import {
  IptablesRules,
  renderRestore,
  resolveBinaries,
  ruleKey,
  savedRuleKeys,
  type Runner,
} from '../../src/agent/iptables.js';
import { createLogger } from '../../src/agent/log.js';

const vips = [
  { address: '198.18.0.100', prefix: 24, family: 4 as const, apiServerPort: 6443, instanceName: 'k0s-vip-0' },
  { address: 'fd00:18::100', prefix: 64, family: 6 as const, apiServerPort: 6443, instanceName: 'k0s-vip-1' },
];
const silent = createLogger('error', () => undefined);

describe('iptables rule rendering', () => {
  it('renders one REDIRECT per VIP with a host-length prefix and a cplb comment', () => {
    const [v4, v6] = redirectRules(vips, 6444);
    expect(ruleSpec(v4!)).toEqual([
      '-d', '198.18.0.100/32', '-p', 'tcp', '--dport', '6443',
      '-m', 'comment', '--comment', 'cplb: k0s-vip-0 198.18.0.100:6443',
      '-j', 'REDIRECT', '--to-ports', '6444',
    ]); // prettier-ignore
    expect(ruleSpec(v6!).slice(0, 2)).toEqual(['-d', 'fd00:18::100/128']);
    expect(jumpSpec('CPLB', 'PREROUTING')).toEqual([
      '-m',
      'comment',
      '--comment',
      'cplb: jump to CPLB',
      '-j',
      'CPLB',
    ]);
    expect(jumpSpec('CPLB', 'OUTPUT').slice(0, 4)).toEqual(['-m', 'addrtype', '--dst-type', 'LOCAL']);
  });

  it('renders an iptables-restore transaction that recreates only our chain', () => {
    const text = renderRestore('CPLB', redirectRules(vips.slice(0, 1), 6444));
    expect(text).toBe(
      '*nat\n:CPLB - [0:0]\n' +
        '-A CPLB -d 198.18.0.100/32 -p tcp --dport 6443 -m comment --comment "cplb: k0s-vip-0 198.18.0.100:6443" -j REDIRECT --to-ports 6444\n' +
        'COMMIT\n',
    );
  });

  it('names binaries after the backend and family', () => {
    expect(binaryNames('nft', 4)).toEqual({
      iptables: 'iptables-nft',
      restore: 'iptables-nft-restore',
      save: 'iptables-nft-save',
    });
    expect(binaryNames('legacy', 6)).toEqual({
      iptables: 'ip6tables-legacy',
      restore: 'ip6tables-legacy-restore',
      save: 'ip6tables-legacy-save',
    });
  });
});

/** What iptables-nft-save 1.8.9 prints for our jumps and rule (captured on this project's lab). */
const SAVED = {
  prerouting: '-A PREROUTING -m comment --comment "cplb: jump to CPLB" -j CPLB',
  output: '-A OUTPUT -m addrtype --dst-type LOCAL -m comment --comment "cplb: jump to CPLB" -j CPLB',
  rule: '-A CPLB -d 198.18.0.100/32 -p tcp -m tcp --dport 6443 -m comment --comment "cplb: k0s-vip-0 198.18.0.100:6443" -j REDIRECT --to-ports 6444',
  // filter: as iptables-nft-save 1.8.9 prints the guard (checked on Debian 12).
  input: '-A INPUT -m comment --comment "cplb: jump to CPLB" -j CPLB',
  guard:
    '-A CPLB -p tcp -m tcp --dport 6444 -m conntrack ! --ctstate DNAT -m comment --comment "cplb: only connections redirected from a VIP" -j REJECT --reject-with tcp-reset',
};

/** A fake ruleset: `*-save` prints the present rule lines (nat, then filter); records every call. */
function fakeTables(present: string[], filter: string[] = [SAVED.input, SAVED.guard]) {
  const calls: string[] = [];
  const isRead = (c: string) => /-save *$/.test(c);
  const run: Runner = async (cmd, args, stdin) => {
    const line = `${cmd} ${args.join(' ')}`;
    calls.push(stdin ? `${line} <<${stdin}` : line);
    const save = [
      '*nat',
      ':CPLB - [0:0]',
      ...present,
      'COMMIT',
      '*filter',
      ':CPLB - [0:0]',
      ...filter,
      'COMMIT',
      '',
    ];
    if (isRead(line) && cmd.startsWith('iptables')) return { code: 0, stdout: save.join('\n'), stderr: '' };
    return { code: 0, stdout: isRead(line) ? '*nat\nCOMMIT\n' : '', stderr: '' };
  };
  return { run, calls, changes: () => calls.filter((c) => !isRead(c)) };
}

describe('reading iptables-save', () => {
  it('matches our specs against what iptables-save prints, -m tcp and quoting included', () => {
    const keys = savedRuleKeys(['*nat', SAVED.prerouting, SAVED.output, SAVED.rule, 'COMMIT'].join('\n'));
    const [v4] = redirectRules(vips, 6444);
    expect(keys.has(ruleKey('CPLB', ruleSpec(v4!)))).toBe(true);
    expect(keys.has(ruleKey('PREROUTING', jumpSpec('CPLB', 'PREROUTING')))).toBe(true);
    expect(keys.has(ruleKey('OUTPUT', jumpSpec('CPLB', 'OUTPUT')))).toBe(true);
    // A jump without the LOCAL match, or a rule to another port, is not ours.
    expect(keys.has(ruleKey('OUTPUT', jumpSpec('CPLB', 'PREROUTING')))).toBe(false);
    expect(keys.has(ruleKey('CPLB', ruleSpec({ ...v4!, proxyPort: 6445 })))).toBe(false);
  });

  it('compares IPv6 addresses in canonical form and keeps quoted words whole', () => {
    const [, v6] = redirectRules(vips, 6444);
    const saved =
      '-A CPLB -d fd00:18:0::100/128 -p tcp -m tcp --dport 6443 -m comment --comment "cplb: k0s-vip-1 fd00:18::100:6443" -j REDIRECT --to-ports 6444';
    expect(savedRuleKeys(saved).has(ruleKey('CPLB', ruleSpec(v6!)))).toBe(true);
    expect(saveWords('-A X -m comment --comment "a \\"b\\" c" -j Y')).toEqual([
      '-A', 'X', '-m', 'comment', '--comment', 'a "b" c', '-j', 'Y',
    ]); // prettier-ignore
  });
});

describe('IptablesRules', () => {
  const make = (run: Runner) =>
    new IptablesRules({ backend: 'nft', chain: 'CPLB', log: silent, run, resolve: (n) => n });

  it('writes the chain and both jumps in one transaction when nothing is there', async () => {
    const { run, changes: changed } = fakeTables([]);
    const rules = make(run);
    rules.setRules(redirectRules(vips.slice(0, 1), 6444));
    expect(await rules.assert()).toEqual({ repaired: true });
    const changes = changed();
    // One iptables-restore: a rule never exists without its jumps, nor a jump without its chain.
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatch(
      /^iptables-nft-restore -w 5 --noflush <<\*nat\n:CPLB - \[0:0\]\n-A CPLB -d 198\.18\.0\.100\/32/,
    );
    expect(changes[0]).toContain('\n-I PREROUTING 1 -m comment --comment "cplb: jump to CPLB" -j CPLB\n');
    expect(changes[0]).toContain(
      '\n-I OUTPUT 1 -m addrtype --dst-type LOCAL -m comment --comment "cplb: jump to CPLB" -j CPLB\nCOMMIT',
    );
    expect(rules.reasserts).toBe(1);
  });

  it('changes nothing when every rule is present (idempotent)', async () => {
    const { run, calls, changes } = fakeTables([SAVED.prerouting, SAVED.output, SAVED.rule]);
    const rules = make(run);
    rules.setRules(redirectRules(vips.slice(0, 1), 6444));
    expect(await rules.assert()).toEqual({ repaired: false });
    expect(changes()).toEqual([]);
    // One read of the nat table per check, whatever the number of rules.
    expect(calls).toEqual(['iptables-nft-save ']);
    expect((await rules.check()).every((c) => c.present)).toBe(true);
  });

  it('re-adds only the missing jump when a CNI deleted one', async () => {
    const { run, changes } = fakeTables([SAVED.prerouting, SAVED.rule]);
    const rules = make(run);
    rules.setRules(redirectRules(vips.slice(0, 1), 6444));
    await rules.assert();
    // The chain is intact: no chain declaration (it would flush the chain), only the jump.
    expect(changes()).toEqual([
      'iptables-nft-restore -w 5 --noflush <<*nat\n-I OUTPUT 1 -m addrtype --dst-type LOCAL -m comment --comment "cplb: jump to CPLB" -j CPLB\nCOMMIT\n',
    ]);
  });

  it('uses ip6tables for IPv6 VIPs and removes both families on stop', async () => {
    const { run, calls } = fakeTables([]);
    const rules = make(run);
    rules.setRules(redirectRules(vips, 6444));
    await rules.assert();
    expect(calls.some((c) => c.startsWith('ip6tables-nft-restore') && c.includes('fd00:18::100/128'))).toBe(
      true,
    );
    calls.length = 0;
    await rules.remove();
    expect(calls.filter((c) => c.includes(' -F ') || c.includes(' -X '))).toEqual([
      'iptables-nft -w 5 -t nat -F CPLB',
      'iptables-nft -w 5 -t nat -X CPLB',
      'iptables-nft -w 5 -t filter -F CPLB',
      'iptables-nft -w 5 -t filter -X CPLB',
      'ip6tables-nft -w 5 -t nat -F CPLB',
      'ip6tables-nft -w 5 -t nat -X CPLB',
      'ip6tables-nft -w 5 -t filter -F CPLB',
      'ip6tables-nft -w 5 -t filter -X CPLB',
    ]);
    expect(calls.filter((c) => c.includes(' -D PREROUTING ')).length).toBeGreaterThanOrEqual(2);
  });

  it('drops the chain of a family whose VIPs were all removed', async () => {
    const { run, calls } = fakeTables([]);
    const rules = make(run);
    rules.setRules(redirectRules(vips, 6444));
    await rules.assert();
    rules.setRules(redirectRules(vips.slice(0, 1), 6444));
    calls.length = 0;
    await rules.assert();
    expect(calls).toContain('ip6tables-nft -w 5 -t nat -X CPLB');
  });

  it('throws with the command and stderr when a write fails', async () => {
    const run: Runner = async (cmd) =>
      cmd.endsWith('-save')
        ? { code: 0, stdout: '*nat\nCOMMIT\n', stderr: '' }
        : { code: 4, stdout: '', stderr: 'Permission denied' };
    const rules = make(run);
    rules.setRules(redirectRules(vips.slice(0, 1), 6444));
    await expect(rules.assert()).rejects.toThrow(
      /iptables-nft-restore -w 5 --noflush failed \(exit 4\): Permission denied/,
    );
  });
});

/**
 * A stateful fake of one family's ruleset, as iptables-nft keeps it (chains keyed "table chain"):
 * *-save prints every table, *-restore --noflush applies each table's transaction (all or
 * nothing), iptables -t T -D/-F/-X edit it. Rules are compared by ruleKey, as the kernel compares
 * them for -D. `failSave` makes iptables-save fail.
 */
function fakeKernel(initial: Record<string, string[][]> = {}) {
  const chains = new Map<string, string[][]>([
    ['nat PREROUTING', []],
    ['nat OUTPUT', []],
    ['filter INPUT', []],
    ...Object.entries(initial),
  ]);
  const state = { failSave: false, calls: [] as string[] };
  const quote = (w: string) => (/\s/.test(w) ? `"${w}"` : w);
  const del = (t: Map<string, string[][]>, chain: string, spec: string[]) => {
    const name = chain.split(' ')[1]!;
    const list = t.get(chain);
    const i = list?.findIndex((r) => ruleKey(name, r) === ruleKey(name, spec)) ?? -1;
    if (!list || i < 0) return false;
    list.splice(i, 1);
    return true;
  };
  const ok = { code: 0, stdout: '', stderr: '' };
  const fail = (stderr: string) => ({ code: 1, stdout: '', stderr });
  const run: Runner = async (cmd, args, stdin) => {
    state.calls.push(`${cmd} ${args.join(' ')}`);
    if (cmd.endsWith('-save')) {
      if (state.failSave) return fail('iptables-save: cannot read the ruleset');
      const lines: string[] = [];
      for (const table of ['nat', 'filter']) {
        const mine = [...chains].filter(([k]) => k.startsWith(`${table} `));
        lines.push(`*${table}`, ...mine.map(([k]) => `:${k.split(' ')[1]} - [0:0]`));
        for (const [k, rules] of mine)
          for (const r of rules) lines.push(`-A ${k.split(' ')[1]} ${r.map(quote).join(' ')}`);
        lines.push('COMMIT');
      }
      return { ...ok, stdout: [...lines, ''].join('\n') };
    }
    if (cmd.endsWith('-restore')) {
      const t = new Map([...chains].map(([c, r]) => [c, [...r]]));
      let table = '';
      for (const line of (stdin ?? '').split('\n')) {
        const w = saveWords(line);
        if (line.startsWith('*')) table = line.slice(1);
        else if (line.startsWith(':')) t.set(`${table} ${line.slice(1).split(' ')[0]}`, []);
        else if (w[0] === '-A') t.get(`${table} ${w[1]}`)?.push(w.slice(2));
        else if (w[0] === '-I') t.get(`${table} ${w[1]}`)?.unshift(w.slice(3));
        else if (w[0] === '-D' && !del(t, `${table} ${w[1]}`, w.slice(2)))
          return fail(`line ${line}: no such rule`);
      }
      for (const [c, r] of t) chains.set(c, r);
      return ok;
    }
    const table = args[args.indexOf('-t') + 1];
    const [op, chain = '', ...spec] = args.slice(args.indexOf('-t') + 2);
    const key = `${table} ${chain}`;
    if (op === '-D') return del(chains, key, spec) ? ok : fail('Bad rule');
    if (op === '-F') return chains.has(key) ? (chains.set(key, []), ok) : fail('No chain');
    if (op === '-X') return chains.delete(key) ? ok : fail('No chain');
    return fail(`fake: unexpected ${cmd} ${args.join(' ')}`);
  };
  const jumps = (hook: string) => chains.get(hook)?.filter((r) => r.at(-1) === 'CPLB').length ?? 0;
  return { run, state, chains, jumps };
}

describe('IptablesRules never piles up jumps (issue 12, item 8)', () => {
  const make = (run: Runner) =>
    new IptablesRules({ backend: 'nft', chain: 'CPLB', log: silent, run, resolve: (n) => n });
  const v4 = redirectRules(vips.slice(0, 1), 6444);

  it('leaves one jump per hook when iptables-save fails tick after tick, and after it recovers', async () => {
    const kernel = fakeKernel();
    const rules = make(kernel.run);
    rules.setRules(v4);
    await rules.assert();
    kernel.state.failSave = true;
    for (let tick = 0; tick < 5; tick++) {
      await rules.assert().catch(() => undefined);
      expect(['nat PREROUTING', 'nat OUTPUT', 'filter INPUT'].map(kernel.jumps)).toEqual([1, 1, 1]);
    }
    kernel.state.failSave = false;
    await rules.assert();
    expect(['nat PREROUTING', 'nat OUTPUT', 'filter INPUT'].map(kernel.jumps)).toEqual([1, 1, 1]);
  });

  it('counts no repair for rules the config just added, and one for rules that vanish later', async () => {
    // A reload that adds a family (IPv6-only to dual-stack) sets the new rules; the periodic check
    // may install them before the reload's own assert does: nothing vanished, nothing to report.
    const kernel = fakeKernel();
    const rules = make(kernel.run);
    rules.setRules(redirectRules(vips.slice(1), 6444));
    await rules.assert();
    rules.setRules(redirectRules(vips, 6444));
    await rules.assert();
    expect(rules.repairs).toBe(0);
    kernel.chains.set('nat CPLB', []);
    await rules.assert();
    expect(rules.repairs).toBe(1);
  });

  it('says why when the table cannot be read, and writes nothing', async () => {
    const kernel = fakeKernel();
    kernel.state.failSave = true;
    const rules = make(kernel.run);
    rules.setRules(v4);
    await expect(rules.assert()).rejects.toThrow(/cannot read the rules \(iptables-nft-save failed\)/);
    expect(kernel.state.calls.filter((c) => !c.includes('-save'))).toEqual([]);
  });

  it('deletes extra copies and stale forms of a jump in one transaction, keeping exactly one', async () => {
    const pre = jumpSpec('CPLB', 'PREROUTING');
    const out = jumpSpec('CPLB', 'OUTPUT');
    const kernel = fakeKernel({
      'nat PREROUTING': [pre, pre, ['-j', 'CPLB'], pre],
      'nat OUTPUT': [out, out],
    });
    const rules = make(kernel.run);
    rules.setRules(v4);
    await rules.assert();
    expect(kernel.chains.get('nat PREROUTING')).toEqual([pre]);
    expect(kernel.chains.get('nat OUTPUT')).toEqual([out]);
    expect(kernel.state.calls.filter((c) => c.includes('-restore'))).toHaveLength(1);
  });

  it('removes every copy of a jump on stop, however many there are', async () => {
    const pre = jumpSpec('CPLB', 'PREROUTING');
    const kernel = fakeKernel({ 'nat PREROUTING': Array.from({ length: 15 }, () => pre), 'nat CPLB': [] });
    const rules = make(kernel.run);
    rules.setRules(v4);
    await rules.remove();
    expect(kernel.jumps('nat PREROUTING')).toBe(0);
    expect(kernel.chains.has('nat CPLB')).toBe(false);
  });

  it('uses one backend for every call: the plain names when one of the backend names is missing', async () => {
    const kernel = fakeKernel();
    const present = new Set([
      'iptables-nft',
      'iptables-nft-restore',
      'iptables',
      'iptables-restore',
      'iptables-save',
    ]);
    // Debian's alternatives: each plain name is a link to the one nft program.
    const rules = new IptablesRules({
      backend: 'nft',
      chain: 'CPLB',
      log: silent,
      run: kernel.run,
      resolve: (n) => (present.has(n) ? n : undefined),
      realpath: () => '/usr/sbin/xtables-nft-multi',
    });
    rules.setRules(v4);
    await rules.assert();
    await rules.remove();
    const used = new Set(kernel.state.calls.map((c) => c.split(' ')[0]));
    expect([...used].sort()).toEqual(['iptables', 'iptables-restore', 'iptables-save']);
  });

  it('refuses plain names that lead to the other backend', () => {
    const links: Record<string, string> = {
      iptables: '/usr/sbin/xtables-legacy-multi',
      'iptables-restore': '/usr/sbin/xtables-legacy-multi',
      'iptables-save': '/usr/sbin/xtables-legacy-multi',
    };
    expect(() =>
      resolveBinaries(
        'nft',
        4,
        (n) => (n in links ? n : undefined),
        (p) => links[p] ?? p,
      ),
    ).toThrow(
      /iptables-nft, iptables-nft-restore, iptables-nft-save not found, and .* not one nft program \(xtables-legacy-multi\)/,
    );
  });
});

describe('the guard: only redirected connections reach the proxy port (issue 12, item 7)', () => {
  const make = (run: Runner) =>
    new IptablesRules({ backend: 'nft', chain: 'CPLB', log: silent, run, resolve: (n) => n });

  it('matches what iptables-save prints for the guard, negation included', () => {
    const keys = savedRuleKeys(['*filter', SAVED.input, SAVED.guard, 'COMMIT'].join('\n'));
    expect(keys.has(ruleKey('CPLB', guardSpec(6444)))).toBe(true);
    expect(keys.has(ruleKey('INPUT', jumpSpec('CPLB', 'INPUT')))).toBe(true);
    expect(keys.has(ruleKey('CPLB', guardSpec(6446)))).toBe(false);
    // Without the negation it would reset exactly the redirected connections: not the same rule.
    const unnegated = guardSpec(6444).filter((w) => w !== '!');
    expect(keys.has(ruleKey('CPLB', unnegated))).toBe(false);
  });

  it('puts a filter chain resetting non-redirected connections to the proxy port, jumped to from INPUT, in both families', async () => {
    // One ruleset per family, as the kernel keeps them.
    const [k4, k6] = [fakeKernel(), fakeKernel()];
    const rules = make((cmd, args, stdin) => (cmd.startsWith('ip6') ? k6 : k4).run(cmd, args, stdin));
    rules.setRules(redirectRules(vips, 6444));
    await rules.assert();
    for (const kernel of [k4, k6]) {
      expect(kernel.chains.get('filter CPLB')).toEqual([guardSpec(6444)]);
      expect(kernel.chains.get('filter INPUT')).toEqual([jumpSpec('CPLB', 'INPUT')]);
    }
    expect((await rules.check()).filter((c) => c.kind === 'guard')).toEqual([
      { family: 4, kind: 'guard', description: ':6444 only from a REDIRECT', present: true },
      { family: 6, kind: 'guard', description: ':6444 only from a REDIRECT', present: true },
    ]);
    expect(await rules.assert()).toEqual({ repaired: false });
    await rules.remove();
    for (const kernel of [k4, k6]) {
      expect(kernel.chains.has('filter CPLB')).toBe(false);
      expect(kernel.jumps('filter INPUT')).toBe(0);
    }
  });

  it('puts the guard back when a firewall flushed the filter table, and moves it with the proxy port', async () => {
    const kernel = fakeKernel();
    const rules = make(kernel.run);
    rules.setRules(redirectRules(vips.slice(0, 1), 6444));
    await rules.assert();
    kernel.chains.set('filter INPUT', []);
    kernel.chains.set('filter CPLB', []);
    await rules.assert();
    expect(kernel.chains.get('filter CPLB')).toEqual([guardSpec(6444)]);
    expect(kernel.jumps('filter INPUT')).toBe(1);
    rules.setRules(redirectRules(vips.slice(0, 1), 6446));
    await rules.assert();
    expect(kernel.chains.get('filter CPLB')).toEqual([guardSpec(6446)]);
  });
});
