/**
 * The zod schema: the single source of the config's types and of `cplbctl schema`.
 * Field names and defaults under controlPlaneLoadBalancing are k0s's own, so a k0s config
 * section can be pasted in unchanged; what cplbctl adds is marked as such in the descriptions.
 */
import { z } from 'zod';
import { ipFamily } from '../contract/net.js';
import { METRICS_PORT } from '../contract/paths.js';

export const NATIVE_API_VERSION = 'cplbctl/v1beta1';
export const K0SCTL_API_VERSION = 'k0sctl.k0sproject.io/v1beta1';

const port = (what: string) =>
  z
    .number({ error: `${what} must be a number` })
    .int({ error: `${what} must be a whole number` })
    .min(1, { error: `${what} must be between 1 and 65535` })
    .max(65535, { error: `${what} must be between 1 and 65535` });

const nonEmpty = (what: string) =>
  z.string({ error: `${what} must be a string` }).min(1, { error: `${what} must not be empty` });

const LB_ALGOS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'dh', 'sh', 'sed', 'nq'] as const;
const LB_KINDS = ['NAT', 'DR', 'TUN'] as const;
const ROLES = ['controller', 'controller+worker', 'worker', 'single'] as const;

const bastionSchema = z
  .strictObject({
    address: nonEmpty('address').describe('Jump host address (host name or IP).'),
    user: nonEmpty('user').default('root'),
    port: port('port').default(22),
    keyPath: nonEmpty('keyPath').optional().describe('Private key for the jump host; `~` is expanded.'),
    hostKey: nonEmpty('hostKey').optional().describe('Pinned host key fingerprint, `SHA256:...`.'),
  })
  .describe('An SSH jump host (like ProxyJump).');

const sshSchema = z.strictObject({
  address: nonEmpty('address').describe('Host name or IP address to connect to.'),
  user: nonEmpty('user').default('root').describe('Login user; non-root users need passwordless sudo.'),
  port: port('port').default(22),
  keyPath: nonEmpty('keyPath')
    .optional()
    .describe('Private key file; `~` is expanded. Default: ssh-agent and ~/.ssh/config.'),
  hostKey: nonEmpty('hostKey')
    .optional()
    .describe(
      'Pinned host key fingerprint (`SHA256:...`, as ssh-keygen -l prints it), checked besides known_hosts.',
    ),
  bastion: bastionSchema.optional(),
});

export const hostSchema = z.strictObject({
  role: z
    .enum(ROLES, { error: `role must be one of ${ROLES.join(', ')}` })
    .describe('Workers take no part in CPLB.'),
  ssh: sshSchema,
  privateInterface: nonEmpty('privateInterface')
    .optional()
    .describe("This host's NIC for VRRP when the instances name none (overrides the default-route NIC)."),
});

/** k0s's addressLabel is a uint32; 0xffffffff is reserved (rule address-label says so). */
export const ADDRESS_LABEL_MAX = 0xffff_ffff;

/** A Go duration such as `1m`, `30s`, `1m30s` or `500ms` (metav1.Duration, as k0s takes it). */
export const GO_DURATION = /^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$/;

export const vrrpInstanceSchema = z.strictObject({
  virtualIPs: z
    .array(nonEmpty('a virtual IP'), {
      error: 'virtualIPs must be a list of CIDRs, e.g. ["192.168.122.200/24"]',
    })
    .min(1, { error: 'virtualIPs must hold at least one CIDR, e.g. ["192.168.122.200/24"]' })
    .describe('Virtual IPs as CIDRs (address/prefix). One address family per instance.'),
  authPass: z
    .string({ error: 'authPass is required: a password of 1 to 8 characters, the same on every controller' })
    .describe('VRRP password, 1-8 printable characters; keepalived silently truncates longer ones.'),
  virtualRouterID: z
    .number({ error: 'virtualRouterID must be a number' })
    .int({ error: 'virtualRouterID must be a whole number' })
    .optional()
    .describe('VRRP router ID, 1-255; default 51 + the instance index. Unique in the broadcast domain.'),
  advertIntervalSeconds: z
    .number({ error: 'advertIntervalSeconds must be a number' })
    .default(1)
    .describe('Advertisement interval in seconds; sub-second values need keepalived.vrrpVersion 3.'),
  interface: nonEmpty('interface')
    .optional()
    .describe('NIC name or MAC address; default: the NIC of the default route on each host.'),
  unicastSourceIP: nonEmpty('unicastSourceIP')
    .optional()
    .describe(
      "Unicast VRRP: one controller's address. Together with unicastPeers it names every controller's source.",
    ),
  unicastPeers: z
    .array(nonEmpty('a unicast peer'), { error: 'unicastPeers must be a list of IP addresses' })
    .optional()
    .describe("Unicast VRRP: the other controllers' source addresses."),
  addressLabel: z
    .number({ error: 'addressLabel must be a number' })
    .int({ error: 'addressLabel must be a whole number' })
    .min(0)
    .max(ADDRESS_LABEL_MAX)
    .optional()
    .describe(
      'IPv6 VIPs only (k0s 1.34): the RFC 6724 label of `ip addrlabel` entry VIP/128 on the holder, so its own traffic keeps the real address as source. 1 to 4294967294; unset or 0: 10000.',
    ),
});

const virtualServerSchema = z.strictObject({
  ipAddress: nonEmpty('ipAddress').describe('One of the VIPs, without a prefix length.'),
  delayLoop: z
    .string({ error: 'delayLoop must be a duration such as "1m" or "30s"' })
    .default('1m')
    .describe('Health check polling delay, a duration such as `1m` or `30s`.'),
  lbAlgo: z.enum(LB_ALGOS, { error: `lbAlgo must be one of ${LB_ALGOS.join(', ')}` }).default('rr'),
  lbKind: z.enum(LB_KINDS, { error: `lbKind must be one of ${LB_KINDS.join(', ')}` }).default('DR'),
  persistenceTimeoutSeconds: z
    .number({ error: 'persistenceTimeoutSeconds must be a number' })
    .int({ error: 'persistenceTimeoutSeconds must be a whole number' })
    .default(360),
});

export const healthCheckSchema = z
  .strictObject({
    path: z
      .string({ error: 'healthCheck.path must be a string such as /readyz' })
      .default('/readyz')
      .describe('URL path of the check (rule health-check-path: RFC 3986 characters, percent-escapes).'),
    intervalSeconds: z.number().positive({ error: 'intervalSeconds must be above 0' }).default(1),
    timeoutSeconds: z.number().positive({ error: 'timeoutSeconds must be above 0' }).default(1),
    fallCount: z.number().int().min(1, { error: 'fallCount must be at least 1' }).default(3),
    riseCount: z.number().int().min(1, { error: 'riseCount must be at least 1' }).default(1),
    clientCertificate: nonEmpty('clientCertificate')
      .optional()
      .describe('Client certificate file (PEM) on the controllers, with clientKey.'),
    clientKey: nonEmpty('clientKey')
      .optional()
      .describe('Its private key file (PEM) on the controllers, mode 0600 or 0400.'),
    bearerTokenFile: nonEmpty('bearerTokenFile')
      .optional()
      .describe(
        'Instead of a certificate: a file on the controllers holding a bearer token, mode 0600 or 0400.',
      ),
  })
  .describe(
    'cplbctl addition: how the agent checks each API server (HTTPS GET, any server certificate). 401/403 count as up (readiness unknown) unless credentials are set.',
  );

/** Each proxied connection holds two of the agent's descriptors (its LimitNOFILE is 65536). */
const MAX_PROXY_CONNECTIONS = 32_000;

export const proxySettingsSchema = z
  .strictObject({
    maxConnections: z
      .number({ error: 'maxConnections must be a number' })
      .int({ error: 'maxConnections must be a whole number' })
      .min(1, { error: 'maxConnections must be at least 1' })
      .max(MAX_PROXY_CONNECTIONS, {
        error: `maxConnections must be at most ${MAX_PROXY_CONNECTIONS} (each connection holds two of the agent's 65536 file descriptors)`,
      })
      .default(10_000),
    idleTimeoutSeconds: z
      .number({ error: 'idleTimeoutSeconds must be a number' })
      .int({ error: 'idleTimeoutSeconds must be a whole number' })
      .min(60, { error: 'idleTimeoutSeconds must be at least 60 (watches sit idle for minutes)' })
      .default(86_400),
  })
  .describe(
    "cplbctl addition: limits of the agent's TCP proxy: connections beyond maxConnections are refused; a connection with no traffic either way for idleTimeoutSeconds is closed.",
  );

export const metricsSettingsSchema = z
  .strictObject({
    bindAddress: z
      .string({ error: 'metrics.bindAddress must be a string' })
      .refine((s) => ipFamily(s) !== 0, {
        error: 'metrics.bindAddress must be an IP address, such as 127.0.0.1, 0.0.0.0 or ::',
      })
      .default('127.0.0.1')
      .describe(
        "Address each agent serves GET /metrics on: 127.0.0.1 keeps it on the controller; the controller's own address, 0.0.0.0 or :: lets Prometheus scrape it.",
      ),
    port: port('metrics.port').default(METRICS_PORT),
  })
  .describe('cplbctl addition: where each agent serves its Prometheus metrics (README lists them).');

export const keepalivedSchema = z.strictObject({
  vrrpInstances: z.array(vrrpInstanceSchema).default([]),
  virtualServers: z.array(virtualServerSchema).default([]),
  userSpaceProxyBindPort: port('userSpaceProxyBindPort')
    .default(6444)
    .describe('Port of the userspace proxy that VIP:apiServerPort is redirected to.'),
  disableLoadBalancer: z
    .boolean()
    .default(false)
    .describe('Only float the VIP: no proxy and no iptables rule.'),
  vrrpVersion: z
    .union([z.literal(2), z.literal(3)], { error: 'vrrpVersion must be 2 or 3' })
    .default(2)
    .describe('cplbctl addition: VRRP version 3 allows sub-second adverts (and ignores authPass).'),
  configTemplateVRRP: z
    .string({ error: 'configTemplateVRRP must be a path' })
    .optional()
    .describe(
      "k0s 1.35.1: a Go template for keepalived's VRRP section, on the controllers. Accepted so a k0s file loads; cplbctl renders keepalived.conf itself, so a set value fails validation (rule config-template) with what to do instead.",
    ),
  configTemplateVS: z
    .string({ error: 'configTemplateVS must be a path' })
    .optional()
    .describe(
      "k0s 1.35.1: a Go template for keepalived's virtual servers, on the controllers. Accepted so a k0s file loads; a set value fails validation (rule config-template) with what to do instead.",
    ),
});

export const cplbSchema = z.strictObject({
  enabled: z.boolean({ error: 'enabled must be true or false' }).default(false),
  type: z
    .literal('Keepalived', { error: 'type must be Keepalived (the only type k0s supports)' })
    .default('Keepalived'),
  keepalived: keepalivedSchema.optional(),
  apiServerPort: port('apiServerPort')
    .optional()
    .describe(
      "cplbctl addition: the API servers' port, default 6443 (k0sctl files: spec.k0s.config.spec.api.port).",
    ),
  healthCheck: healthCheckSchema.optional(),
  proxy: proxySettingsSchema.optional(),
  metrics: metricsSettingsSchema.optional(),
});

export const nativeSchema = z.strictObject({
  apiVersion: z.literal(NATIVE_API_VERSION),
  kind: z.literal('Cluster', { error: 'kind must be Cluster' }),
  metadata: z.strictObject({ name: nonEmpty('name').default('cplb') }).optional(),
  spec: z.strictObject({
    hosts: z.array(hostSchema, { error: 'hosts must be a list' }),
    controlPlaneLoadBalancing: cplbSchema.optional(),
  }),
});

/** k0sctl owns most of its file: cplbctl reads hosts and the CPLB section and lets the rest be. */
const k0sctlHostSchema = z.looseObject({
  role: z.enum(ROLES, { error: `role must be one of ${ROLES.join(', ')}` }),
  ssh: sshSchema.optional(),
  privateInterface: nonEmpty('privateInterface').optional(),
});

export const k0sctlSchema = z.looseObject({
  apiVersion: z.literal(K0SCTL_API_VERSION),
  kind: z.literal('Cluster', { error: 'kind must be Cluster' }),
  metadata: z.looseObject({ name: z.string().optional() }).optional(),
  spec: z.looseObject({
    hosts: z.array(k0sctlHostSchema, { error: 'hosts must be a list' }),
    k0s: z
      .looseObject({
        config: z
          .looseObject({
            spec: z
              .looseObject({
                api: z.looseObject({ port: port('api.port').optional() }).optional(),
                network: z.looseObject({ controlPlaneLoadBalancing: cplbSchema.optional() }).optional(),
              })
              .optional(),
          })
          .optional(),
      })
      .optional(),
  }),
});

export type NativeFile = z.output<typeof nativeSchema>;
export type K0sctlFile = z.output<typeof k0sctlSchema>;
export type HostInput = z.output<typeof hostSchema>;
export type CplbInput = z.output<typeof cplbSchema>;
export type VrrpInstanceInput = z.output<typeof vrrpInstanceSchema>;
export type VirtualServerInput = z.output<typeof virtualServerSchema>;
export type HealthCheck = z.output<typeof healthCheckSchema>;
export type ProxySettings = z.output<typeof proxySettingsSchema>;
export type MetricsSettings = z.output<typeof metricsSettingsSchema>;
