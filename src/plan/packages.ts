/** Which distro packages a host lacks, and the one command that installs them. */
import { shJoin } from '../contract/quote.js';
import type { HostFacts } from './facts.js';

export interface PackagePlan {
  manager: NonNullable<HostFacts['packageManager']>;
  packages: string[];
  command: string;
}

/** ip6tables ships in the iptables package on every supported distro. */
export function missingPackages(facts: HostFacts, needIptables: boolean, needIp6tables: boolean): string[] {
  const pkgs: string[] = [];
  if (!facts.keepalived.present) pkgs.push('keepalived');
  if ((needIptables && !facts.iptables.present) || (needIp6tables && !facts.ip6tables.present))
    pkgs.push('iptables');
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
): PackagePlan | undefined {
  const packages = missingPackages(facts, needIptables, needIp6tables);
  if (packages.length === 0 || !facts.packageManager) return undefined;
  return { manager: facts.packageManager, packages, command: installCommand(facts.packageManager, packages) };
}
