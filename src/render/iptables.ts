/**
 * The nat rules the agent holds, as iptables commands for display in the plan. Built from the
 * agent's own rule functions, so what the plan shows is what the agent installs.
 */
import type { AgentVip } from '../contract/agent-config.js';
import {
  binaryNames,
  guardSpec,
  JUMP_FROM,
  jumpSpec,
  redirectRules,
  ruleSpec,
} from '../contract/nat-rules.js';
import { shJoin } from '../contract/quote.js';

export function describeRedirectRules(
  vips: readonly AgentVip[],
  proxyPort: number,
  chain: string,
  backend: 'nft' | 'legacy',
): string[] {
  const rules = redirectRules([...vips], proxyPort);
  const families = [...new Set(rules.map((r) => r.family))].sort();
  const lines: string[] = [];
  for (const family of families) {
    const bin = binaryNames(backend, family).iptables;
    for (const from of JUMP_FROM)
      lines.push(shJoin([bin, '-t', 'nat', '-I', from, '1', ...jumpSpec(chain, from)]));
    for (const rule of rules.filter((r) => r.family === family))
      lines.push(shJoin([bin, '-t', 'nat', '-A', chain, ...ruleSpec(rule)]));
    lines.push(shJoin([bin, '-t', 'filter', '-I', 'INPUT', '1', ...jumpSpec(chain, 'INPUT')]));
    lines.push(shJoin([bin, '-t', 'filter', '-A', chain, ...guardSpec(proxyPort)]));
  }
  return lines;
}
