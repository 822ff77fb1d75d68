/** Which distro packages a host lacks, and the one command that installs them. */
import { shJoin } from '../contract/quote.js';
import type { HostFacts, ProbeTool } from './facts.js';

export interface PackagePlan {
  manager: NonNullable<HostFacts['packageManager']>;
  packages: string[];
  command: string;
}

/**
 * The package that brings each pre-flight tool. Debian splits iputils (arping, ping); Fedora, RHEL,
 * SUSE and Alpine ship both in `iputils` (Alpine's busybox has them anyway).
 */
const PROBE_PACKAGES: Record<PackagePlan['manager'], Record<ProbeTool, string>> = {
  apt: { tcpdump: 'tcpdump', arping: 'iputils-arping', ndisc6: 'ndisc6', ping: 'iputils-ping' },
  dnf: { tcpdump: 'tcpdump', arping: 'iputils', ndisc6: 'ndisc6', ping: 'iputils' },
  yum: { tcpdump: 'tcpdump', arping: 'iputils', ndisc6: 'ndisc6', ping: 'iputils' },
  apk: { tcpdump: 'tcpdump', arping: 'iputils', ndisc6: 'ndisc6', ping: 'iputils' },
  zypper: { tcpdump: 'tcpdump', arping: 'iputils', ndisc6: 'ndisc6', ping: 'iputils' },
};

/** The pre-flight tools this host lacks, of those the cluster needs (preflight.ts neededProbeTools). */
export function missingProbeTools(facts: HostFacts, need: readonly ProbeTool[]): ProbeTool[] {
  return need.filter((t) => !facts.probeTools.includes(t));
}

/** ip6tables ships in the iptables package on every supported distro. */
export function missingPackages(
  facts: HostFacts,
  needIptables: boolean,
  needIp6tables: boolean,
  probeTools: readonly ProbeTool[] = [],
): string[] {
  const pkgs: string[] = [];
  if (!facts.keepalived.present) pkgs.push('keepalived');
  if ((needIptables && !facts.iptables.present) || (needIp6tables && !facts.ip6tables.present))
    pkgs.push('iptables');
  const byTool = PROBE_PACKAGES[facts.packageManager ?? 'apt'];
  for (const t of missingProbeTools(facts, probeTools)) if (!pkgs.includes(byTool[t])) pkgs.push(byTool[t]);
  return pkgs;
}

function installCommand(manager: PackagePlan['manager'], packages: string[]): string {
  const names = shJoin(packages);
  switch (manager) {
    case 'apt':
      // A fresh image has no package lists: update only when the first try cannot find the package.
      return `export DEBIAN_FRONTEND=noninteractive; apt-get install -y --no-install-recommends ${names} || { apt-get update -qq && apt-get install -y --no-install-recommends ${names}; }`;
    case 'dnf':
      return `dnf install -y ${names}`;
    case 'yum':
      return `yum install -y ${names}`;
    case 'apk':
      return `apk add --no-cache ${names}`;
    case 'zypper':
      return `zypper --non-interactive install ${names}`;
  }
}

export function packagePlan(
  facts: HostFacts,
  needIptables: boolean,
  needIp6tables: boolean,
  probeTools: readonly ProbeTool[] = [],
): PackagePlan | undefined {
  const packages = missingPackages(facts, needIptables, needIp6tables, probeTools);
  if (packages.length === 0 || !facts.packageManager) return undefined;
  return { manager: facts.packageManager, packages, command: installCommand(facts.packageManager, packages) };
}
