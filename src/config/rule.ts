/** Config rules are named functions that add errors and warnings (the changesets way). */
import type { HealthCheck, HostInput, CplbInput, ProxySettings } from './schema.js';
import type { DocPath } from './types.js';

/** What the rules see: the schema's output before defaults that need cross-field knowledge. */
export interface RuleInput {
  format: 'native' | 'k0sctl';
  name: string;
  hosts: { input: HostInput | (Partial<HostInput> & { role: HostInput['role'] }); path: DocPath }[];
  /** Undefined when the file has no controlPlaneLoadBalancing section. */
  cplb: CplbInput | undefined;
  /** The API port from a k0sctl file's spec.k0s.config.spec.api.port. */
  k0sApiPort?: number;
  paths: { cplb: DocPath; hosts: DocPath };
  /** Whether the file itself sets the field at `path` (the schema fills in defaults). */
  isSet(path: DocPath): boolean;
}

export interface Reporter {
  error(path: DocPath, message: string, hint?: string): void;
  warn(path: DocPath, message: string, hint?: string): void;
}

export interface Rule {
  name: string;
  check(input: RuleInput, report: Reporter): void;
}

export const DEFAULT_VRID = 51;

export function proxySettingsOf(cplb: CplbInput | undefined): ProxySettings {
  return { maxConnections: 10_000, idleTimeoutSeconds: 86_400, ...cplb?.proxy };
}

export function healthCheckOf(cplb: CplbInput | undefined): HealthCheck {
  return {
    path: '/readyz',
    intervalSeconds: 1,
    timeoutSeconds: 1,
    fallCount: 3,
    riseCount: 1,
    ...cplb?.healthCheck,
  };
}
