import { existsSync } from 'node:fs';
import { formatPath } from '../diagnostics.js';
import type { DocPath } from '../types.js';
import { expandHome } from '../paths.js';
import type { Rule } from '../rule.js';
import { hasZoneId, isInterfaceRef, notAnIp } from '../net.js';

const isCplbRole = (role: string) => role === 'controller' || role === 'controller+worker';

export const controllersPresent: Rule = {
  name: 'controllers-present',
  check({ hosts, paths }, report) {
    // A `single` host gets role-single's error, which says what to change; this would repeat it.
    if (!hosts.some((h) => isCplbRole(h.input.role) || h.input.role === 'single'))
      report.error(paths.hosts, 'no controller among the hosts', 'give at least one host role: controller');
  },
};

export const singleRole: Rule = {
  name: 'role-single',
  check({ hosts }, report) {
    for (const h of hosts)
      if (h.input.role === 'single')
        report.error(
          [...h.path, 'role'],
          'role single is incompatible with control plane load balancing (a single node has nothing to fail over to, and k0s --single disables it)',
          'use role: controller (or controller+worker) on every control plane host',
        );
  },
};

export const singleController: Rule = {
  name: 'single-controller',
  check({ hosts, paths }, report) {
    if (hosts.filter((h) => isCplbRole(h.input.role)).length === 1)
      report.warn(
        paths.hosts,
        'only one controller: the VIP cannot fail over anywhere',
        'add controllers for high availability',
      );
  },
};

export const sshPresent: Rule = {
  name: 'ssh-present',
  check({ hosts }, report) {
    for (const h of hosts)
      if (isCplbRole(h.input.role) && !h.input.ssh)
        report.error(
          h.path,
          'controller has no ssh section',
          'cplbctl reaches controllers over SSH only: add ssh.address (and user, keyPath)',
        );
  },
};

export const uniqueHosts: Rule = {
  name: 'unique-hosts',
  check({ hosts }, report) {
    const seen = new Map<string, DocPath>();
    for (const h of hosts) {
      if (!h.input.ssh) continue;
      const key = `${h.input.ssh.address.toLowerCase()}:${h.input.ssh.port}`;
      const first = seen.get(key);
      if (first === undefined) seen.set(key, h.path);
      else
        report.error(
          [...h.path, 'ssh', 'address'],
          `${key} is also ${formatPath(first)}`,
          'every host needs its own address:port; remove the duplicate',
        );
    }
  },
};

export const keyPathExists: Rule = {
  name: 'key-path-exists',
  check({ hosts }, report) {
    for (const h of hosts) {
      const ssh = h.input.ssh;
      if (!ssh) continue;
      const check = (keyPath: string | undefined, path: (string | number)[]) => {
        if (keyPath && !existsSync(expandHome(keyPath)))
          report.error(
            path,
            `key file ${keyPath} does not exist`,
            'fix keyPath, or remove it to use ssh-agent and ~/.ssh/config',
          );
      };
      check(ssh.keyPath, [...h.path, 'ssh', 'keyPath']);
      check(ssh.bastion?.keyPath, [...h.path, 'ssh', 'bastion', 'keyPath']);
    }
  },
};

const SHA256_FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/;

export const hostKeyFormat: Rule = {
  name: 'host-key-format',
  check({ hosts }, report) {
    for (const h of hosts) {
      const ssh = h.input.ssh;
      const pins: [string | undefined, (string | number)[]][] = [
        [ssh?.hostKey, [...h.path, 'ssh', 'hostKey']],
        [ssh?.bastion?.hostKey, [...h.path, 'ssh', 'bastion', 'hostKey']],
      ];
      for (const [key, path] of pins)
        if (key !== undefined && !SHA256_FINGERPRINT.test(key))
          report.error(
            path,
            'hostKey is not a SHA256 fingerprint',
            'write it as `ssh-keygen -lf` prints it, e.g. SHA256: followed by 43 base64 characters',
          );
    }
  },
};

/** An IPv6 zone ID (`fe80::1%eth0`) is refused wherever an address is configured. */
export const sshAddress: Rule = {
  name: 'ssh-address',
  check({ hosts }, report) {
    for (const h of hosts) {
      const ssh = h.input.ssh;
      const addresses: [string | undefined, (string | number)[]][] = [
        [ssh?.address, [...h.path, 'ssh', 'address']],
        [ssh?.bastion?.address, [...h.path, 'ssh', 'bastion', 'address']],
      ];
      for (const [address, path] of addresses)
        if (address !== undefined && hasZoneId(address))
          report.error(
            path,
            notAnIp(address),
            'use a global or unique-local address, or a host name (~/.ssh/config may map it)',
          );
    }
  },
};

export const privateInterface: Rule = {
  name: 'private-interface',
  check({ hosts }, report) {
    for (const h of hosts) {
      const nic = h.input.privateInterface;
      if (nic !== undefined && !isInterfaceRef(nic))
        report.error(
          [...h.path, 'privateInterface'],
          `${JSON.stringify(nic)} is not a valid interface name or MAC address`,
          'use a Linux interface name (at most 15 characters, no "/", spaces or shell characters) or a MAC like 52:54:00:12:34:56',
        );
    }
  },
};
