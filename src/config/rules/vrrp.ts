import type { Rule, RuleInput } from '../rule.js';
import { DEFAULT_VRID } from '../rule.js';
import type { VrrpInstanceInput } from '../schema.js';
import type { DocPath } from '../types.js';
import { formatPath } from '../diagnostics.js';
import { canonicalIp, ipFamily } from '../../contract/net.js';
import { isInterfaceRef, parseCidr } from '../net.js';

/** Each instance with its document path; empty when CPLB is off (cplb-enabled reports that). */
export function instancesOf({ cplb, paths }: RuleInput): { inst: VrrpInstanceInput; path: DocPath }[] {
  if (!cplb?.enabled) return [];
  return (cplb.keepalived?.vrrpInstances ?? []).map((inst, i) => ({
    inst,
    path: [...paths.cplb, 'keepalived', 'vrrpInstances', i],
  }));
}

export const vipCidr: Rule = {
  name: 'vip-cidr',
  check(input, report) {
    for (const { inst, path } of instancesOf(input))
      inst.virtualIPs.forEach((vip, j) => {
        const parsed = parseCidr(vip);
        if (typeof parsed === 'string')
          report.error(
            [...path, 'virtualIPs', j],
            `"${vip}" is not a CIDR: ${parsed}`,
            cidrHint(vip, parsed),
          );
      });
  },
};

function cidrHint(vip: string, problem: string): string {
  const v6 = vip.includes(':');
  if (problem.startsWith('prefix length')) return `use the subnet's prefix length, at most ${v6 ? 128 : 32}`;
  if (problem.includes('zone ID')) return 'leave the zone ID out: the interface is chosen per host';
  return `write an IP address with its subnet's prefix length, e.g. ${v6 ? '2001:db8::100/64' : '192.168.122.200/24'}`;
}

export const vipFamily: Rule = {
  name: 'vip-family',
  check(input, report) {
    for (const { inst, path } of instancesOf(input)) {
      const families = new Set(inst.virtualIPs.map((v) => ipFamily(v.split('/')[0]!)).filter((f) => f !== 0));
      if (families.size > 1)
        report.error(
          [...path, 'virtualIPs'],
          'mixes IPv4 and IPv6 addresses: keepalived ignores the VIPs of the other family',
          'put IPv4 and IPv6 VIPs in separate vrrpInstances',
        );
    }
  },
};

export const vipUnique: Rule = {
  name: 'vip-unique',
  check(input, report) {
    const seen = new Map<string, string>();
    for (const { inst, path } of instancesOf(input))
      inst.virtualIPs.forEach((vip, j) => {
        const addr = vip.split('/')[0]!;
        if (ipFamily(addr) === 0) return;
        const key = canonicalIp(addr);
        const where = `vrrpInstances[${path[path.length - 1]}]`;
        const first = seen.get(key);
        if (first)
          report.error(
            [...path, 'virtualIPs', j],
            `VIP ${addr} is already in ${first}`,
            'list each VIP in one instance only',
          );
        else seen.set(key, where);
      });
  },
};

export const vipNotHostAddress: Rule = {
  name: 'vip-not-host-address',
  check(input, report) {
    const hostAddrs = new Map<string, DocPath>();
    for (const h of input.hosts) {
      const a = h.input.ssh?.address;
      if (a && ipFamily(a)) hostAddrs.set(canonicalIp(a), h.path);
    }
    for (const { inst, path } of instancesOf(input))
      inst.virtualIPs.forEach((vip, j) => {
        const addr = vip.split('/')[0]!;
        if (!ipFamily(addr)) return;
        const host = hostAddrs.get(canonicalIp(addr));
        if (host !== undefined)
          report.error(
            [...path, 'virtualIPs', j],
            `VIP ${addr} is the address of ${formatPath(host)}`,
            'a VIP must be a free address that no host owns; pick an unused one in the same subnet',
          );
      });
  },
};

/** Characters that end or break a keepalived token: whitespace, comments, quotes, blocks. */
const AUTH_PASS_FORBIDDEN = /[\s#!"'{}\\]/;

export const authPass: Rule = {
  name: 'auth-pass',
  check(input, report) {
    for (const { inst, path } of instancesOf(input)) {
      const p = inst.authPass;
      const at = [...path, 'authPass'];
      // The value is a secret: messages describe it, never quote it. Each problem is its own line.
      if (p.length === 0) {
        report.error(at, 'authPass is empty', 'set a password of 1 to 8 characters');
        continue;
      }
      const length = [...p].length;
      if (length > 8)
        report.error(
          at,
          `authPass is ${length} characters long, and keepalived silently truncates it to 8`,
          'use at most 8 characters',
        );
      if (/[^\x20-\x7e]/.test(p))
        report.error(
          at,
          'authPass holds non-printable or non-ASCII characters',
          'use printable ASCII characters only',
        );
      else if (AUTH_PASS_FORBIDDEN.test(p))
        report.error(
          at,
          "authPass holds a character that breaks keepalived's config syntax (whitespace, #, !, quotes, backslash or braces)",
          'use letters, digits and other punctuation only',
        );
    }
  },
};

export const virtualRouterID: Rule = {
  name: 'virtual-router-id',
  check(input, report) {
    const seen = new Map<number, number>();
    for (const [i, { inst, path }] of instancesOf(input).entries()) {
      const explicit = inst.virtualRouterID;
      const id = explicit ?? DEFAULT_VRID + i;
      const at = explicit === undefined ? path : [...path, 'virtualRouterID'];
      if (explicit !== undefined && (explicit < 1 || explicit > 255)) {
        report.error(
          at,
          `virtualRouterID ${explicit} is outside 1-255`,
          'pick a router ID from 1 to 255, unique in the network',
        );
        continue;
      }
      if (id > 255) {
        report.error(
          at,
          `the default virtualRouterID (51 + ${i}) is above 255`,
          'set virtualRouterID explicitly on this instance',
        );
        continue;
      }
      const first = seen.get(id);
      if (first !== undefined)
        report.error(
          at,
          `virtualRouterID ${id}${explicit === undefined ? ' (the default, 51 + index)' : ''} is also used by vrrpInstances[${first}]`,
          'give every instance its own virtualRouterID',
        );
      else seen.set(id, i);
    }
  },
};

export const advertInterval: Rule = {
  name: 'advert-interval',
  check(input, report) {
    const version = input.cplb?.keepalived?.vrrpVersion ?? 2;
    for (const { inst, path } of instancesOf(input)) {
      const s = inst.advertIntervalSeconds;
      const at = [...path, 'advertIntervalSeconds'];
      if (!(s > 0))
        report.error(at, `advertIntervalSeconds must be above 0, got ${s}`, 'use 1 (the default)');
      else if (version === 2 && !Number.isInteger(s))
        report.error(
          at,
          `advertIntervalSeconds ${s} is sub-second, which VRRP version 2 rounds to whole seconds`,
          'set keepalived.vrrpVersion: 3 for sub-second adverts, or use a whole number',
        );
      else if (version === 2 && s > 255)
        report.error(at, `advertIntervalSeconds ${s} is above 255`, 'use 1 to 255 seconds');
      else if (version === 3 && (s > 40.95 || !isWholeCentiseconds(s)))
        report.error(
          at,
          `advertIntervalSeconds ${s} is not valid for VRRP version 3`,
          'use 0.01 to 40.95 in steps of 0.01',
        );
    }
  },
};

/** 0.1 * 100 is not exactly 10 in floating point: compare with a tolerance. */
function isWholeCentiseconds(seconds: number): boolean {
  return Math.abs(Math.round(seconds * 100) - seconds * 100) < 1e-6;
}

/** VRRPv3 has no authentication: with vrrpVersion 3, and for IPv6 instances (keepalived runs those as v3 always). */
export const authPassWithV3: Rule = {
  name: 'auth-pass-v3',
  check(input, report) {
    const v3 = (input.cplb?.keepalived?.vrrpVersion ?? 2) === 3;
    for (const { inst, path } of instancesOf(input)) {
      if (v3)
        report.warn(
          [...path, 'authPass'],
          'VRRP version 3 ignores authPass, so it keeps no other VRRP router out',
          'keep it (it is required), and rely on a virtualRouterID unique in the network instead',
        );
      else if (inst.virtualIPs.length > 0 && inst.virtualIPs.every((v) => ipFamily(v.split('/')[0]!) === 6))
        report.warn(
          [...path, 'authPass'],
          'an IPv6 instance always runs VRRP version 3, which ignores authPass, so it keeps no other VRRP router out',
          'keep it (it is required), and rely on a virtualRouterID unique in the network instead',
        );
    }
  },
};

export const interfaceRef: Rule = {
  name: 'interface',
  check(input, report) {
    for (const { inst, path } of instancesOf(input))
      if (inst.interface !== undefined && !isInterfaceRef(inst.interface))
        report.error(
          [...path, 'interface'],
          `${JSON.stringify(inst.interface)} is not a valid interface name or MAC address`,
          'use a Linux interface name (at most 15 characters, no "/", spaces or shell characters) or a MAC like 52:54:00:12:34:56',
        );
  },
};
