/** The files a lab hands to cplbctl: a native cluster file and a known_hosts for its hosts. */
import type { HostPlan, LabLayout } from './layout.js';

export interface HostKeyInfo {
  hostKey: string;
  hostKeyFingerprint: string;
}

const q = (s: string) => JSON.stringify(s);

/** Only controllers go in: the client host is there to send traffic, not to run the load balancer. */
export function renderClusterFile(
  layout: LabLayout,
  keyPath: string,
  keys: Record<string, HostKeyInfo>,
): string {
  const lines = [
    'apiVersion: cplbctl/v1beta1',
    'kind: Cluster',
    'metadata:',
    `  name: ${layout.name}`,
    'spec:',
    '  hosts:',
  ];
  for (const h of layout.hosts.filter((x) => x.role === 'controller')) {
    lines.push(
      '    - role: controller',
      '      ssh:',
      `        address: ${h.address}`,
      `        port: ${h.sshPort}`,
      `        user: ${h.user}`,
      `        keyPath: ${keyPath}`,
      `        hostKey: ${q(keys[h.name]?.hostKeyFingerprint ?? '')}`,
    );
  }
  lines.push(
    '  controlPlaneLoadBalancing:',
    '    enabled: true',
    '    type: Keepalived',
    '    keepalived:',
    '      vrrpInstances:',
    `        - virtualIPs: [${q(layout.vip)}]`,
    `          authPass: ${q('lab-pass')}`,
    '',
  );
  return lines.join('\n');
}

function knownHostsName(host: Pick<HostPlan, 'address' | 'sshPort'>): string {
  return host.sshPort === 22 ? host.address : `[${host.address}]:${host.sshPort}`;
}

/** Every host, the client included, keyed by address (and port when it is not 22). */
export function renderKnownHosts(layout: LabLayout, keys: Record<string, HostKeyInfo>): string {
  return layout.hosts
    .map((h) => {
      const [type, blob] = (keys[h.name]?.hostKey ?? '').split(/\s+/);
      return `${knownHostsName(h)} ${type} ${blob}`;
    })
    .join('\n')
    .concat('\n');
}
