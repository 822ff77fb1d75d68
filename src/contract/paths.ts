/**
 * Where cplb's pieces live on a controller: keepalived.conf, the agent and the planner must name the
 * same files, so every side takes them from here (the agent's schema uses them as its defaults).
 */
import { posix } from 'node:path';

export const CONFIG_DIR = '/etc/cplb';
export const KEEPALIVED_CONF = `${CONFIG_DIR}/keepalived.conf`;
export const AGENT_CONFIG = `${CONFIG_DIR}/agent.json`;
/**
 * `cplbctl drain` creates it, `uncordon` removes it: while it exists the agent keeps the node in
 * FAULT (no VIP). On disk, not under /run, so it outlives a reboot; apply never writes or removes it,
 * reset removes it with the rest of /etc/cplb.
 */
export const DRAIN_FILE = `${CONFIG_DIR}/drained`;
export const AGENT_DIR = '/usr/local/lib/cplb';
/** The single executable (linux x86_64). */
export const AGENT_BIN = `${AGENT_DIR}/cplb-agent`;
/** The JS bundle, run by the host's own node (>= 18) where no single executable is built. */
export const AGENT_JS = `${AGENT_DIR}/cplb-agent.js`;
export const RUN_DIR = '/run/cplb';
/** keepalived's track_file: the agent writes 0 (healthy) or 1 (FAULT: give up the VIP). */
export const TRACK_FILE = `${RUN_DIR}/health`;
/** keepalived's name for the track file; instances refer to it by this name. */
export const TRACK_NAME = 'cplb_health';
/**
 * The hand-off files, one per VRRP instance: cplbctl writes 1 into the file of the host that is to
 * take that instance's VIP from its holder, which lifts the host's priority above every peer so it
 * preempts the holder (make-before-break: the VIP is never unheld). Missing or 0: no change. In
 * RUN_DIR itself, never a subfolder: keepalived watches the file's folder, which must exist when it
 * starts. The agent removes a file older than PREFER_TTL_MS (a run cut off before it cleared it).
 */
export const PREFER_NAME_PREFIX = 'cplb_prefer_';
export const PREFER_FILE_PREFIX = 'prefer-';
export const preferFile = (instance: string): string => `${RUN_DIR}/${PREFER_FILE_PREFIX}${instance}`;
export const PREFER_TTL_MS = 120_000;
/**
 * cplbctl creates it on a holder a moment before another host preempts it: the agent then drops new
 * SYNs to its proxy, so connections in flight finish before the client's ARP follows the VIP, and
 * new ones are resent a second later, to the new holder. cplbctl removes it after the hand-off; the
 * agent ignores and removes one older than QUIESCE_TTL_MS.
 */
export const QUIESCE_FILE = `${RUN_DIR}/quiesce`;
export const QUIESCE_TTL_MS = 30_000;
export const NOTIFY_FIFO = `${RUN_DIR}/notify.fifo`;
export const STATUS_SOCKET = `${RUN_DIR}/agent.sock`;
export const STATUS_FILE = `${RUN_DIR}/status`;
/** Written by the plain-sh launcher on hosts without an init system (and read by the facts script). */
export const AGENT_PIDFILE = `${RUN_DIR}/agent.pid`;
/** stdout/stderr of the agent where no journal catches them. */
export const AGENT_LOG = '/var/log/cplb-agent.log';
export const SERVICE_NAME = 'cplb-agent';
export const SYSTEMD_UNIT = `/etc/systemd/system/${SERVICE_NAME}.service`;
export const OPENRC_SCRIPT = `/etc/init.d/${SERVICE_NAME}`;
/** The launcher for hosts without init: `start`, `stop`, `reload`, `status`. */
export const PLAIN_LAUNCHER = `${AGENT_DIR}/cplb-agent-ctl`;

/**
 * The agent's open-file limit, the same under every service manager: each proxied connection
 * holds two descriptors, and the default 1024 would cap the proxy near 500 clients.
 */
export const AGENT_NOFILE = 65536;

/** The agent's proxy and metrics ports, and its iptables chain, unless its config says otherwise. */
export const PROXY_PORT = 6444;
export const METRICS_PORT = 6445;
export const CHAIN = 'CPLB';

/** How a controller starts its services: what it booted with, or nothing (the plain launcher). */
export type InitSystem = 'systemd' | 'openrc' | 'none';

/**
 * Where apply stages a file before it switches it in: beside the target (same filesystem, so the
 * switch is an atomic rename), hidden, one per target.
 */
export function stagedPath(path: string): string {
  return posix.join(posix.dirname(path), `.${posix.basename(path)}.cplb-staged`);
}
