import { formatPath } from '../diagnostics.js';
import type { Rule } from '../rule.js';

const K0SCTL_API_PORT_PATH = ['spec', 'k0s', 'config', 'spec', 'api', 'port'];

export const cplbEnabled: Rule = {
  name: 'cplb-enabled',
  check({ cplb, paths, format }, report) {
    const init = format === 'k0sctl' ? '`cplbctl init --k0sctl`' : '`cplbctl init`';
    // Reported at the section's own path: where it is missing, that names what to add and
    // points at the deepest part of it the file has.
    if (!cplb)
      report.error(
        paths.cplb,
        'controlPlaneLoadBalancing is missing, so there is nothing to deploy',
        `add ${formatPath(paths.cplb)} with enabled: true, type: Keepalived and keepalived.vrrpInstances (${init} prints an example)`,
      );
    else if (!cplb.enabled)
      report.error(
        [...paths.cplb, 'enabled'],
        'control plane load balancing is not enabled (enabled defaults to false)',
        'set enabled: true under controlPlaneLoadBalancing',
      );
  },
};

export const cplbHasInstances: Rule = {
  name: 'cplb-has-instances',
  check({ cplb, paths }, report) {
    if (!cplb?.enabled) return;
    if (!cplb.keepalived || cplb.keepalived.vrrpInstances.length === 0)
      report.error(
        [...paths.cplb, 'keepalived', 'vrrpInstances'],
        'no VRRP instance, so no virtual IP would float',
        'add keepalived.vrrpInstances with at least one entry holding virtualIPs and authPass',
      );
  },
};

export const ports: Rule = {
  name: 'ports',
  check({ cplb, paths, k0sApiPort, isSet }, report) {
    if (!cplb?.enabled) return;
    const proxy = cplb.keepalived?.userSpaceProxyBindPort ?? 6444;
    const api = cplb.apiServerPort ?? k0sApiPort ?? 6443;
    if (proxy !== api) return;
    // Point at whichever of the two the file sets; the proxy's field when it sets both.
    const proxyPath = [...paths.cplb, 'keepalived', 'userSpaceProxyBindPort'];
    const explicitProxy = isSet(proxyPath);
    const apiPath =
      cplb.apiServerPort !== undefined ? [...paths.cplb, 'apiServerPort'] : K0SCTL_API_PORT_PATH;
    report.error(
      explicitProxy ? proxyPath : apiPath,
      `the proxy port (userSpaceProxyBindPort${explicitProxy ? '' : ', default 6444'}) and the API server port are both ${api}`,
      !explicitProxy
        ? "set keepalived.userSpaceProxyBindPort to a free port other than the API server's"
        : 'choose another userSpaceProxyBindPort (the default is 6444)',
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
