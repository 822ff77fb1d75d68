/**
 * The IPv6 half of the safety check (prefix.ts is the IPv4 one): the lab's ULA block must not overlap
 * any IPv6 route, address or resolver of the machine. Machines here use ULA space themselves (an
 * uplink on fd00::/64, say), so a block is never assumed free because it is "private".
 */
import { readFile } from 'node:fs/promises';
import { CplbError } from '../core/errors.js';
import { type Cidr6, findConflictsIn, formatCidr6, tryParseCidr6, ulaCandidate } from './layout6.js';
import { type MachineNetOf, readMachineNetOf } from './machine-net.js';

export type MachineNet6 = MachineNetOf<Cidr6>;

/** Whether this machine runs IPv6 at all: an IPv6 lab needs it. */
export async function machineHasIpv6(): Promise<boolean> {
  const all = await readFile('/proc/sys/net/ipv6/conf/all/disable_ipv6', 'utf8').catch(() => '1');
  return all.trim() === '0';
}

export function readMachineNet6(): Promise<MachineNet6> {
  return readMachineNetOf({ ipFlag: '-6', addrFamily: 'inet6', hostLen: 128, parseCidr: tryParseCidr6 });
}

/** What in the machine's IPv6 network overlaps `prefix`, one description each (empty: safe). */
export function findConflicts6(prefix: Cidr6, net: MachineNet6): string[] {
  return findConflictsIn(prefix, [...net.routes, ...net.addresses, ...net.nameservers]);
}

const ATTEMPTS = 64;

/**
 * The explicit block when given (refused on any conflict), else the lab's own candidate blocks in
 * order (ulaCandidate), the first that nothing on the machine (other labs' blocks included) touches.
 */
export function pickPrefix6(labName: string, requested: Cidr6 | undefined, net: MachineNet6): Cidr6 {
  if (requested) {
    const conflicts = findConflicts6(requested, net);
    if (conflicts.length > 0) {
      throw new CplbError(
        `IPv6 prefix ${formatCidr6(requested)} overlaps the machine's network: ${conflicts.join('; ')}`,
        {
          code: 'LAB_PREFIX_OVERLAP',
          fault: 'usage',
          hint: 'choose another --prefix6 inside fd00::/8, or leave it out to have one picked',
        },
      );
    }
    return requested;
  }
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const block = ulaCandidate(labName, attempt);
    if (findConflicts6(block, net).length === 0) return block;
  }
  throw new CplbError(`no free IPv6 block for lab ${labName} after ${ATTEMPTS} tries`, {
    code: 'LAB_PREFIX_OVERLAP',
    fault: 'usage',
    hint: 'pass --prefix6',
  });
}
