/** The agent counts rules it had to put back after they were in place: what verify's redirect check reads. */
import { describe, expect, it } from 'vitest';
import { IptablesRules, type Runner } from '../../src/agent/iptables.js';
import { redirectRules } from '../../src/contract/nat-rules.js';
import { createLogger } from '../../src/agent/log.js';

const vips = [
  { address: '198.18.0.100', prefix: 24, family: 4 as const, apiServerPort: 6443, instanceName: 'k0s-vip-0' },
];

/** The nat and filter tables holding what the restores wrote (as iptables-save prints them), until `flush()` (a CNI, a hand edit). */
function table() {
  const tables = { nat: new Set<string>(), filter: new Set<string>() };
  const run: Runner = async (cmd, args, stdin) => {
    if (cmd.endsWith('-save')) {
      const out = Object.entries(tables).flatMap(([name, lines]) => [`*${name}`, ...lines, 'COMMIT']);
      return { code: 0, stdout: [...out, ''].join('\n'), stderr: '' };
    }
    let lines = tables.nat;
    if (args.includes('--noflush'))
      for (const l of (stdin ?? '').split('\n')) {
        if (l === '*filter') lines = tables.filter;
        if (/^-[AI] /.test(l)) lines.add(l.replace(/^-I (\S+) 1 /, '-A $1 '));
      }
    return { code: 0, stdout: '', stderr: '' };
  };
  return { run, flush: () => tables.nat.clear() };
}

describe('IptablesRules repairs', () => {
  it('does not count the first install, nor a forced rewrite on reload; counts a rule that vanished', async () => {
    const t = table();
    const rules = new IptablesRules({
      backend: 'nft',
      chain: 'CPLB',
      log: createLogger('error', () => undefined),
      run: t.run,
      resolve: (n) => n,
    });
    rules.setRules(redirectRules(vips, 6444));
    await rules.assert();
    await rules.assert(true);
    expect(rules.repairs).toBe(0);
    expect(rules.lastRepairAt).toBeUndefined();
    await rules.assert();
    expect(rules.repairs).toBe(0);
    t.flush();
    const before = Date.now();
    expect(await rules.assert()).toEqual({ repaired: true });
    expect(rules.repairs).toBe(1);
    expect(Date.parse(rules.lastRepairAt!)).toBeGreaterThanOrEqual(before - 1);
    expect(rules.reasserts).toBe(3);
  });
});
