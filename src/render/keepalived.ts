/**
 * keepalived.conf for one controller. Pure and deterministic: the same input gives the same bytes,
 * so apply can compare hashes and leave unchanged hosts alone.
 */
import { NOTIFY_FIFO, PREFER_NAME_PREFIX, preferFile, TRACK_FILE, TRACK_NAME } from '../contract/paths.js';

export interface KeepalivedInstance {
  name: string;
  /** Resolved interface name on this host (never a MAC). */
  interface: string;
  family: 4 | 6;
  virtualRouterID: number;
  advertIntervalSeconds: number;
  authPass: string;
  /** CIDRs, e.g. 198.18.0.100/24. */
  vips: string[];
  /** This host's unicast source and the other controllers' sources; absent for multicast. */
  unicast?: { source: string; peers: string[] };
}

export interface KeepalivedVirtualServer {
  address: string;
  port: number;
  delayLoopSeconds: number;
  lbAlgo: string;
  lbKind: string;
  persistenceTimeoutSeconds: number;
  realServers: { address: string; port: number }[];
}

export interface KeepalivedConfInput {
  /** The host's name: keepalived logs and adverts name it. */
  routerId: string;
  vrrpVersion: 2 | 3;
  instances: KeepalivedInstance[];
  virtualServers: KeepalivedVirtualServer[];
  trackFile?: string;
  /** Where each instance's hand-off file is (tests move it). */
  preferFile?: (instance: string) => string;
  notifyFifo?: string;
}

/**
 * Every controller runs `state BACKUP` at one priority, so a node that comes back never takes the
 * VIP from the current holder (no needless flap). 200 as k0s: a higher priority shortens the
 * master-down skew ((256 - priority) / 256 of an advert).
 */
export const VRRP_PRIORITY = 200;

/**
 * A host whose hand-off file says 1 runs at this priority: above every peer, so it preempts the
 * holder after one master-down interval, and the highest keepalived allows, so its skew is shortest.
 */
export const PREFERRED_PRIORITY = 254;
const PREFER_WEIGHT = PREFERRED_PRIORITY - VRRP_PRIORITY;

export const MANAGED_HEADER =
  '# Managed by cplbctl: do not edit. The next `cplbctl apply` overwrites this file.';

/** A keepalived token: whitespace, quotes, comments and braces would change the file's structure. */
function token(value: string | number, what: string): string {
  const text = String(value);
  if (!/^[^\s#!"'{}\\]+$/.test(text))
    throw new Error(`keepalived.conf: ${what} "${text}" is not a single safe token`);
  return text;
}

function block(header: string, body: string[], indent = ''): string[] {
  return [`${indent}${header} {`, ...body.map((l) => `${indent}  ${l}`), `${indent}}`];
}

/** keepalived prints advert_int as given; keep 0.1 as 0.1 and 1 as 1, never 1.0 or 0.10000000000000001. */
function seconds(value: number): string {
  return String(Number(value.toFixed(2)));
}

const preferName = (inst: KeepalivedInstance) => `${PREFER_NAME_PREFIX}${token(inst.name, 'instance name')}`;

function renderInstance(inst: KeepalivedInstance, vrrpVersion: 2 | 3, trackName: string): string[] {
  const dev = token(inst.interface, 'interface');
  // VRRP over IPv6 is version 3 only (RFC 5798), whatever global_defs says, and v3 has no authentication.
  const version = inst.family === 6 ? 3 : vrrpVersion;
  const body: string[] = [
    'state BACKUP',
    `interface ${dev}`,
    `virtual_router_id ${token(inst.virtualRouterID, 'virtual_router_id')}`,
    `priority ${VRRP_PRIORITY}`,
    `advert_int ${seconds(inst.advertIntervalSeconds)}`,
  ];
  if (inst.family === 6 && vrrpVersion === 2) body.push('version 3');
  if (version === 2)
    body.push(
      ...block('authentication', ['auth_type PASS', `auth_pass ${token(inst.authPass, 'auth_pass')}`]),
    );
  if (inst.unicast) {
    body.push(`unicast_src_ip ${token(inst.unicast.source, 'unicast_src_ip')}`);
    body.push(
      ...block(
        'unicast_peer',
        inst.unicast.peers.map((p) => token(p, 'unicast peer')),
      ),
    );
  }
  body.push(
    ...block(
      'virtual_ipaddress',
      inst.vips.map((cidr) => `${token(cidr, 'virtual IP')} dev ${dev}`),
    ),
  );
  // weight 0: a non-zero value in the file puts the instance in FAULT (the agent's health verdict).
  // The hand-off file's 1 adds its weight to the priority.
  body.push(...block('track_file', [`${trackName} weight 0`, `${preferName(inst)} weight ${PREFER_WEIGHT}`]));
  return block(`vrrp_instance ${token(inst.name, 'instance name')}`, body);
}

function renderVirtualServer(vs: KeepalivedVirtualServer): string[] {
  const body = [
    `delay_loop ${seconds(vs.delayLoopSeconds)}`,
    `lb_algo ${token(vs.lbAlgo, 'lb_algo')}`,
    `lb_kind ${token(vs.lbKind, 'lb_kind')}`,
    `persistence_timeout ${vs.persistenceTimeoutSeconds}`,
    'protocol TCP',
  ];
  for (const rs of vs.realServers)
    body.push(
      ...block(`real_server ${token(rs.address, 'real server')} ${rs.port}`, [
        'weight 1',
        ...block('TCP_CHECK', ['warmup 0', 'retry 1', 'connect_timeout 3', `connect_port ${rs.port}`]),
      ]),
    );
  return block(`virtual_server ${token(vs.address, 'virtual server')} ${vs.port}`, body);
}

export function renderKeepalivedConf(input: KeepalivedConfInput): string {
  const trackFile = input.trackFile ?? TRACK_FILE;
  const notifyFifo = input.notifyFifo ?? NOTIFY_FIFO;
  const global = [
    `router_id ${token(input.routerId, 'router_id')}`,
    `notify_fifo ${token(notifyFifo, 'notify_fifo')}`,
  ];
  if (input.vrrpVersion === 3) global.push('vrrp_version 3');
  const sections: string[][] = [
    [
      MANAGED_HEADER,
      '# The cplb agent runs keepalived with this file and reloads it when apply says so (SIGHUP).',
    ],
    block('global_defs', global),
    [
      '# The agent writes 0 (healthy) or 1 (unhealthy: give up the VIP) into this file.',
      ...block(`track_file ${TRACK_NAME}`, [`file "${token(trackFile, 'track file')}"`, 'weight 0']),
    ],
    ...input.instances.map((inst) => [
      `# cplbctl writes 1 here on the host that is to take ${inst.name}'s VIP next (priority ${PREFERRED_PRIORITY}).`,
      ...block(`track_file ${preferName(inst)}`, [
        `file "${token(input.preferFile?.(inst.name) ?? preferFile(inst.name), 'hand-off file')}"`,
        `weight ${PREFER_WEIGHT}`,
      ]),
    ]),
    ...input.instances.map((inst) => renderInstance(inst, input.vrrpVersion, TRACK_NAME)),
    ...input.virtualServers.map(renderVirtualServer),
  ];
  return sections.map((s) => s.join('\n')).join('\n\n') + '\n';
}
