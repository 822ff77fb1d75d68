import { formatPath } from '../diagnostics.js';
import { urlPathProblem } from '../../contract/url-path.js';
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
  check({ cplb, paths, resolved, isSet }, report) {
    if (!cplb?.enabled) return;
    const api = resolved.apiServerPort;
    if (resolved.proxyPort !== api) return;
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

/** The agent's metrics listener shares the controller's ports with the proxy and the API server. */
export const metricsPort: Rule = {
  name: 'metrics-port',
  check({ cplb, paths, resolved }, report) {
    if (!cplb?.enabled || !cplb.metrics) return;
    const { port } = resolved.metrics;
    const clash =
      port === resolved.proxyPort
        ? 'the proxy port'
        : port === resolved.apiServerPort
          ? 'the API server port'
          : '';
    if (clash)
      report.error(
        [...paths.cplb, 'metrics', 'port'],
        `metrics.port ${port} is also ${clash}`,
        'choose a free port for the metrics (the default is 6445)',
      );
  },
};

export const healthCheck: Rule = {
  name: 'health-check',
  check({ paths, resolved }, report) {
    const hc = resolved.healthCheck;
    if (hc.timeoutSeconds > hc.intervalSeconds)
      report.warn(
        [...paths.cplb, 'healthCheck', 'timeoutSeconds'],
        `timeoutSeconds ${hc.timeoutSeconds} is longer than intervalSeconds ${hc.intervalSeconds}`,
        'checks would overlap; keep the timeout at or below the interval',
      );
  },
};

export const healthCheckPath: Rule = {
  name: 'health-check-path',
  check({ cplb, paths }, report) {
    const path = cplb?.healthCheck?.path;
    if (path === undefined) return;
    const problem = urlPathProblem(path);
    if (problem)
      report.error(
        [...paths.cplb, 'healthCheck', 'path'],
        `${JSON.stringify(path)} ${problem.message}`,
        problem.hint,
      );
  },
};

/** A path on the controllers: absolute, one line, no control characters (it goes into agent.json as is). */
const isHostPath = (p: string) => p.startsWith('/') && !/[\u0000-\u001f\u007f]/.test(p);

/**
 * Optional credentials for the health check, as kubeconfig names them: a client certificate with its
 * key, or a bearer token file. They are files on the controllers, so only their form is checked here;
 * that they exist there with mode 0600 is checked on the hosts (Validate facts).
 */
export const healthCheckCredentials: Rule = {
  name: 'health-check-credentials',
  check({ cplb, paths }, report) {
    const hc = cplb?.healthCheck;
    if (!hc) return;
    const at = (field: string) => [...paths.cplb, 'healthCheck', field];
    const { clientCertificate: cert, clientKey: key, bearerTokenFile: token } = hc;
    for (const [field, value] of [
      ['clientCertificate', cert],
      ['clientKey', key],
      ['bearerTokenFile', token],
    ] as const)
      if (value !== undefined && !isHostPath(value))
        report.error(
          at(field),
          `${JSON.stringify(value)} is not an absolute path`,
          'give the path of the file on the controllers, starting with / (~ and relative paths are not expanded there)',
        );
    if (cert !== undefined && key === undefined)
      report.error(
        at('clientCertificate'),
        'clientCertificate without clientKey',
        'add clientKey, the private key of that certificate',
      );
    if (key !== undefined && cert === undefined)
      report.error(
        at('clientKey'),
        'clientKey without clientCertificate',
        'add clientCertificate, the certificate of that key',
      );
    if ((cert !== undefined || key !== undefined) && token !== undefined)
      report.error(
        at('bearerTokenFile'),
        'both a client certificate and a bearer token are set',
        'use one kind of credential: remove bearerTokenFile, or clientCertificate and clientKey',
      );
  },
};
