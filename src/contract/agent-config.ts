/**
 * The node agent's settings (/etc/cplb/agent.json, 0600 root). The planner renders this file from
 * the cluster config and the agent parses it, both with this schema, so both sides agree on one shape.
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { z } from 'zod';
import {
  CHAIN,
  DRAIN_FILE,
  KEEPALIVED_CONF,
  METRICS_PORT,
  NOTIFY_FIFO,
  PROXY_PORT,
  RUN_DIR,
  STATUS_FILE,
  STATUS_SOCKET,
  TRACK_FILE,
} from './paths.js';
import { isUrlPath } from './url-path.js';

const AGENT_SCHEMA_VERSION = 1;

const port = z.number().int().min(1).max(65535);
const positiveMs = z.number().int().min(1);
const absPath = z.string().regex(/^\//, { error: 'must be an absolute path' });
const ipAddress = z.string().refine((s) => isIP(s) !== 0, { error: 'must be an IP address' });

const healthCheckSchema = z
  .strictObject({
    path: z.string().refine(isUrlPath, { error: 'must be a URL path such as /readyz' }).default('/readyz'),
    intervalMs: positiveMs.default(1000),
    timeoutMs: positiveMs.default(1000),
    fallCount: z.number().int().min(1).default(3),
    riseCount: z.number().int().min(1).default(1),
    /** Credentials (files on this host): with them, 401/403 means down; without, up with readiness unknown. */
    clientCertificate: absPath.optional(),
    clientKey: absPath.optional(),
    bearerTokenFile: absPath.optional(),
  })
  .refine((h) => (h.clientCertificate === undefined) === (h.clientKey === undefined), {
    error: 'clientCertificate and clientKey go together',
    path: ['clientKey'],
  })
  .refine((h) => h.bearerTokenFile === undefined || h.clientCertificate === undefined, {
    error: 'a client certificate or a bearer token, not both',
    path: ['bearerTokenFile'],
  });

const upstreamSchema = z.strictObject({
  /** IP address or host name of one controller's API server. */
  address: z.string().min(1),
  port: port.default(6443),
});

/** k0s's default addressLabel ("If not specified or set to 0, defaults to 10000"). */
export const DEFAULT_ADDRESS_LABEL = 10_000;
/** Labels are uint32; 0xffffffff is reserved (k0s refuses it, and so does the kernel). */
const MAX_ADDRESS_LABEL = 0xffff_fffe;

const vipSchema = z
  .strictObject({
    address: ipAddress,
    prefix: z.number().int().min(0).max(128),
    family: z.union([z.literal(4), z.literal(6)]),
    apiServerPort: port.default(6443),
    /** keepalived's vrrp_instance name: the notify fifo reports state by this name. */
    instanceName: z.string().regex(/^[A-Za-z0-9_.-]+$/),
    /**
     * IPv6 only: the label of the `ip addrlabel` entry VIP/128 the agent holds while this host holds
     * the VIP (k0s's addressLabel; RFC 6724 then keeps the real address as the host's own source).
     * Absent in files from before it, and when the cluster file leaves it to k0s's default.
     */
    addressLabel: z.number().int().min(1).max(MAX_ADDRESS_LABEL).optional(),
  })
  .refine((v) => isIP(v.address) === v.family, {
    error: 'family does not match the address',
    path: ['family'],
  })
  .refine((v) => v.prefix <= (v.family === 4 ? 32 : 128), {
    error: 'prefix too long for the family',
    path: ['prefix'],
  });

const keepalivedSchema = z.strictObject({
  binary: z.string().min(1).default('keepalived'),
  configPath: absPath.default(KEEPALIVED_CONF),
  /** keepalived's track_file (weight 0): the agent writes 0 (healthy) or 1 (FAULT: give up the VIP). */
  trackFile: absPath.default(TRACK_FILE),
  /** keepalived's global notify_fifo: `INSTANCE "name" STATE priority` lines. */
  notifyFifo: absPath.default(NOTIFY_FIFO),
  /** keepalived's pid files go here, never to /run/keepalived.pid where a distro keepalived keeps its own. */
  pidDir: absPath.default(RUN_DIR),
  restartBackoff: z
    .strictObject({ initialMs: positiveMs.default(500), maxMs: positiveMs.default(30_000) })
    .prefault({}),
});

const proxySchema = z.strictObject({
  /** false when only the VIP floats (disableLoadBalancer): no listener and no iptables rules. */
  enabled: z.boolean().default(true),
  /** Default: '::' (dual stack) when a VIP is IPv6, else '0.0.0.0'. REDIRECT needs a wildcard bind. */
  bindAddress: ipAddress.optional(),
  bindPort: port.default(PROXY_PORT),
  dialTimeoutMs: positiveMs.default(3000),
  /** Connections beyond this many are refused (closed at once) and counted. */
  maxConnections: z.number().int().min(1).default(10_000),
  /** A connection with no traffic either way for this long is closed: a day, watches idle for minutes. */
  idleTimeoutMs: positiveMs.default(86_400_000),
  /** On stop: how long open connections get to end on their own before they are cut. */
  drainTimeoutMs: z.number().int().min(0).default(3000),
  upstreams: z.array(upstreamSchema).min(1),
  healthCheck: healthCheckSchema.prefault({}),
});

export const agentConfigSchema = z.strictObject({
  schemaVersion: z.literal(AGENT_SCHEMA_VERSION).default(AGENT_SCHEMA_VERSION),
  /** Opaque id of the apply that wrote this file (e.g. the plan's hash), echoed in status. */
  revision: z.string().optional(),
  /** cplbctl version that rendered the file. */
  renderedBy: z.string().optional(),
  hostName: z.string().min(1),
  logLevel: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  keepalived: keepalivedSchema.prefault({}),
  proxy: proxySchema,
  vips: z.array(vipSchema).min(1),
  statusSocket: absPath.default(STATUS_SOCKET),
  /** The same document as a file, rewritten every second and on every change (see StatusFile). */
  statusFile: absPath.default(STATUS_FILE),
  /** While this file exists the node is drained: it holds no VIP (see DRAIN_FILE). */
  drainFile: absPath.default(DRAIN_FILE),
  metrics: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** 127.0.0.1 unless the cluster file's metrics.bindAddress opens it to a scraper. */
      bindAddress: ipAddress.default('127.0.0.1'),
      port: port.default(METRICS_PORT),
    })
    .prefault({}),
  iptables: z
    .strictObject({
      backend: z.enum(['nft', 'legacy']).default('nft'),
      chain: z
        .string()
        .regex(/^[A-Za-z][A-Za-z0-9_-]{0,27}$/, { error: 'must be a valid chain name (max 28 chars)' })
        .default(CHAIN),
      reassertIntervalMs: positiveMs.default(5000),
    })
    .prefault({}),
});

export type AgentConfig = z.output<typeof agentConfigSchema>;
export type AgentConfigInput = z.input<typeof agentConfigSchema>;
export type AgentVip = AgentConfig['vips'][number];
export type AgentUpstream = AgentConfig['proxy']['upstreams'][number];
export type HealthCheckSettings = AgentConfig['proxy']['healthCheck'];

/** Short content hash: status reports it, the planner computes the same over what it rendered. */
export function hashConfigText(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

export class AgentConfigError extends Error {
  override name = 'AgentConfigError';
}

export function parseAgentConfig(text: string, source = 'agent.json'): AgentConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new AgentConfigError(`${source}: not valid JSON: ${(err as Error).message}`);
  }
  const result = agentConfigSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new AgentConfigError(`${source}: invalid agent config:\n${lines.join('\n')}`);
  }
  return result.data;
}

/** The label an IPv6 VIP's addrlabel entry gets: its own, else k0s's default. */
export function addressLabelOf(vip: Pick<AgentVip, 'addressLabel'>): number {
  return vip.addressLabel ?? DEFAULT_ADDRESS_LABEL;
}

export function proxyBindAddress(config: AgentConfig): string {
  return config.proxy.bindAddress ?? (config.vips.some((v) => v.family === 6) ? '::' : '0.0.0.0');
}
