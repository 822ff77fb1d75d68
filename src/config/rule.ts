/** Config rules are named functions that add errors and warnings (the changesets way). */
import {
  healthCheckSchema,
  keepalivedSchema,
  metricsSettingsSchema,
  proxySettingsSchema,
  type CplbInput,
  type HealthCheck,
  type HostInput,
  type MetricsSettings,
  type ProxySettings,
} from './schema.js';
import type { DocPath } from './types.js';

/** What the rules see: the schema's output before defaults that need cross-field knowledge. */
export interface RuleInput {
  format: 'native' | 'k0sctl';
  name: string;
  hosts: { input: HostInput | (Partial<HostInput> & { role: HostInput['role'] }); path: DocPath }[];
  /** Undefined when the file has no controlPlaneLoadBalancing section. */
  cplb: CplbInput | undefined;
  /** Values with a default that depends on more than their own field, worked out once (defaultsOf). */
  resolved: Resolved;
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
const DEFAULT_API_SERVER_PORT = 6443;

export interface Resolved {
  /** apiServerPort, else a k0sctl file's spec.api.port, else 6443. */
  apiServerPort: number;
  proxyPort: number;
  healthCheck: HealthCheck;
  proxy: ProxySettings;
  metrics: MetricsSettings;
}

/**
 * Defaults for the blocks a file may leave out, taken from the schema itself (its .default()s), so
 * the rules and the built cluster read the same values and nothing repeats them.
 */
export function resolvedOf(cplb: CplbInput | undefined, k0sApiPort: number | undefined): Resolved {
  return {
    apiServerPort: cplb?.apiServerPort ?? k0sApiPort ?? DEFAULT_API_SERVER_PORT,
    proxyPort: (cplb?.keepalived ?? keepalivedSchema.parse({})).userSpaceProxyBindPort,
    healthCheck: cplb?.healthCheck ?? healthCheckSchema.parse({}),
    proxy: cplb?.proxy ?? proxySettingsSchema.parse({}),
    metrics: cplb?.metrics ?? metricsSettingsSchema.parse({}),
  };
}
