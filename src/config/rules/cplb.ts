import type { Rule } from '../rule.js';

const HINT_ADD =
  'add controlPlaneLoadBalancing with enabled: true and keepalived.vrrpInstances (run `cplbctl init` for a starter file)';

export const cplbEnabled: Rule = {
  name: 'cplb-enabled',
  check({ cplb, paths }, report) {
    if (!cplb) report.error(paths.spec, 'no controlPlaneLoadBalancing section, so there is nothing to deploy', HINT_ADD);
    else if (!cplb.enabled)
      report.error([...paths.cplb, 'enabled'], 'control plane load balancing is not enabled', 'set enabled: true');
  },
};

export const cplbHasInstances: Rule = {
  name: 'cplb-has-instances',
  check({ cplb, paths }, report) {
    if (!cplb?.enabled) return;
    if (!cplb.keepalived || cplb.keepalived.vrrpInstances.length === 0)
      report.error(
        cplb.keepalived ? [...paths.cplb, 'keepalived', 'vrrpInstances'] : paths.cplb,
        'no VRRP instance, so no virtual IP would float',
        'add keepalived.vrrpInstances with at least one entry holding virtualIPs and authPass',
      );
  },
};

export const ports: Rule = {
  name: 'ports',
  check({ cplb, paths, k0sApiPort }, report) {
    const proxy = cplb?.keepalived?.userSpaceProxyBindPort ?? 6444;
    const api = cplb?.apiServerPort ?? k0sApiPort ?? 6443;
    if (proxy === api)
      report.error(
        [...paths.cplb, 'keepalived', 'userSpaceProxyBindPort'],
        `the proxy port ${proxy} is the API server port too`,
        'choose another userSpaceProxyBindPort (the default is 6444)',
      );
  },
};

export const healthCheck: Rule = {
  name: 'health-check',
  check({ cplb, paths }, report) {
    const hc = cplb?.healthCheck;
    if (hc && hc.timeoutSeconds > hc.intervalSeconds)
      report.warn(
        [...paths.cplb, 'healthCheck', 'timeoutSeconds'],
        `timeoutSeconds ${hc.timeoutSeconds} is longer than intervalSeconds ${hc.intervalSeconds}`,
        'checks would overlap; keep the timeout at or below the interval',
      );
  },
};
