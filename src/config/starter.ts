/** The starter file `cplbctl init` prints: valid as printed once the addresses are real. */
export interface StarterHost {
  user: string;
  address: string;
  port: number;
}

export interface StarterOptions {
  controllers: StarterHost[];
  vip: string;
  k0sctl: boolean;
}

const DEFAULT_CONTROLLERS: StarterHost[] = [11, 12, 13].map((n) => ({
  user: 'root',
  address: `192.168.122.${n}`,
  port: 22,
}));

function quote(s: string): string {
  return JSON.stringify(s);
}

function hostsYaml(hosts: StarterHost[], indent: string): string {
  return hosts
    .map(
      (h) =>
        `${indent}- role: controller\n` +
        `${indent}  ssh:\n` +
        `${indent}    address: ${quote(h.address)}\n` +
        `${indent}    user: ${quote(h.user)}\n` +
        (h.port !== 22 ? `${indent}    port: ${h.port}\n` : '') +
        `${indent}    # keyPath: ~/.ssh/id_ed25519   # default: ssh-agent and ~/.ssh/config\n`,
    )
    .join('');
}

function cplbYaml(vip: string, indent: string): string {
  const i = indent;
  return [
    `${i}controlPlaneLoadBalancing:`,
    `${i}  enabled: true`,
    `${i}  type: Keepalived`,
    `${i}  keepalived:`,
    `${i}    vrrpInstances:`,
    `${i}      - virtualIPs: [${quote(vip)}]   # a free address in the controllers' subnet, with its prefix length`,
    `${i}        authPass: ${quote('CHANGEME')}   # 1-8 characters, the same on every controller; not a security feature`,
    `${i}        # virtualRouterID: 51          # 1-255, unique in the broadcast domain (default 51 + index)`,
    `${i}        # interface: eth0              # default: the NIC of each host's default route`,
    `${i}        # advertIntervalSeconds: 1`,
    `${i}    # userSpaceProxyBindPort: 6444     # VIP:6443 is redirected to this port on every controller`,
    '',
  ].join('\n');
}

export function renderStarter(opts: StarterOptions): string {
  const hosts = opts.controllers.length ? opts.controllers : DEFAULT_CONTROLLERS;
  if (opts.k0sctl) {
    return [
      '# A k0sctl.yaml with control plane load balancing. cplbctl reads spec.hosts and',
      '# spec.k0s.config.spec.network.controlPlaneLoadBalancing; k0sctl reads the rest.',
      'apiVersion: k0sctl.k0sproject.io/v1beta1',
      'kind: Cluster',
      'metadata:',
      '  name: k0s-cluster',
      'spec:',
      '  hosts:',
      hostsYaml(hosts, '    ').trimEnd(),
      '  k0s:',
      '    config:',
      '      spec:',
      '        network:',
      cplbYaml(opts.vip, '          '),
    ].join('\n');
  }
  return [
    '# cplbctl cluster file. Check it with `cplbctl validate`, deploy it with `cplbctl apply`.',
    '# yaml-language-server: $schema=./cplbctl.schema.json   (write it with `cplbctl schema > cplbctl.schema.json`)',
    'apiVersion: cplbctl/v1beta1',
    'kind: Cluster',
    'metadata:',
    '  name: cplb',
    'spec:',
    '  hosts:',
    hostsYaml(hosts, '    ').trimEnd(),
    cplbYaml(opts.vip, '  '),
  ].join('\n');
}
