/**
 * The safety check: a lab prefix must not overlap anything the machine already routes, holds or
 * resolves through, or the lab would cut the machine off its uplink, resolver or package proxy.
 */
import { CplbError } from '../core/errors.js';
import { type Cidr, DEFAULT_POOL, LAB_BLOCK_LEN, formatCidr, overlaps, tryParseCidr } from './layout.js';
import { type MachineNetOf, readMachineNetOf } from './machine-net.js';

export { parseResolvConf } from './machine-net.js';

export type MachineNet = MachineNetOf<Cidr>;

export function readMachineNet(): Promise<MachineNet> {
  return readMachineNetOf({ ipFlag: '-4', addrFamily: 'inet', hostLen: 32, parseCidr: tryParseCidr });
}

/** What in the machine's network overlaps `prefix`, one description each (empty: safe). */
export function findConflicts(prefix: Cidr, net: MachineNet): string[] {
  const hits = [...net.routes, ...net.addresses, ...net.nameservers].filter((e) => overlaps(prefix, e.cidr));
  return [...new Set(hits.map((e) => e.text))];
}

/**
 * The explicit prefix when given (refused on any conflict), else the first free /23 of the default pool,
 * so a test lab and a developer's lab can be up side by side.
 */
export function pickPrefix(requested: Cidr | undefined, net: MachineNet): Cidr {
  if (requested) {
    const conflicts = findConflicts(requested, net);
    if (conflicts.length > 0) {
      throw new CplbError(
        `prefix ${formatCidr(requested)} overlaps the machine's network: ${conflicts.join('; ')}`,
        {
          code: 'LAB_PREFIX_OVERLAP',
          fault: 'usage',
          hint: 'choose another --prefix (inside 198.18.0.0/15 is best)',
        },
      );
    }
    return requested;
  }
  const pool = tryParseCidr(DEFAULT_POOL) as Cidr;
  const step = 2 ** (32 - LAB_BLOCK_LEN);
  for (let base = pool.base; base < pool.base + 2 ** (32 - pool.len); base += step) {
    const block = { base, len: LAB_BLOCK_LEN };
    if (findConflicts(block, net).length === 0) return block;
  }
  throw new CplbError(`no free /${LAB_BLOCK_LEN} left in ${DEFAULT_POOL}`, {
    code: 'LAB_PREFIX_OVERLAP',
    fault: 'usage',
    hint: 'take other labs down or pass --prefix',
  });
}
