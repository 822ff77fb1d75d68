import { readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { hostPort } from '../contract/net.js';
import {
  expandPath,
  parseJumpHops,
  parseSshConfig,
  resolveHostConfig,
  type ConfigLine,
  type SshConfig,
} from './ssh-config.js';

/** Where and how to reach one host: the cluster file's fields, ssh_config filling the gaps. */
export interface SshTarget {
  address: string;
  port?: number;
  user?: string;
  keyPath?: string;
  /** Pinned host key (k0sctl's `hostKey`): `SHA256:...` fingerprint or a `type base64` key. */
  hostKey?: string;
  bastion?: SshTarget;
}

export interface ResolvedTarget {
  /** `address:port` as the user wrote the address: the name in every message. */
  name: string;
  /** What to dial and look up in known_hosts (ssh_config HostName applied). */
  host: string;
  port: number;
  user: string;
  keyPaths: string[];
  /** Set when the cluster file named a key: its absence is a config error, not a skipped default. */
  requiredKeyPath?: string;
  hostKey?: string;
  bastion?: ResolvedTarget;
}

const DEFAULT_KEYS = ['id_ed25519', 'id_ecdsa', 'id_rsa'];
const DEFAULT_USER = 'root'; // k0sctl's default too: cluster hosts are usually reached as root

const formatHostName = hostPort;

/**
 * Missing or unreadable config means no config: ssh does the same for ~/.ssh/config. It is the
 * user's file (like `ssh -F`), so a relative Include starts in ~/.ssh.
 */
export function loadSshConfig(path = join(homedir(), '.ssh', 'config')): SshConfig {
  const includeDir = join(homedir(), '.ssh');
  try {
    return { lines: parseSshConfig(readFileSync(path, 'utf8')), includeDir };
  } catch {
    return { lines: [], includeDir };
  }
}

export function resolveTarget(
  target: SshTarget,
  blocks: SshConfig | ConfigLine[],
  depth = 0,
): ResolvedTarget {
  const home = homedir();
  const localUser = safeLocalUser();
  const config = resolveHostConfig(blocks, target.address, {
    home,
    localUser,
    remoteUser: target.user,
    port: target.port,
  });
  const port = target.port ?? config.port ?? 22;
  const user = target.user ?? config.user ?? DEFAULT_USER;
  const host = config.hostName ?? target.address;
  const ctx = { home, localUser, remoteUser: user, port };
  const requiredKeyPath = target.keyPath ? expandPath(target.keyPath, target.address, host, ctx) : undefined;
  const keyPaths = requiredKeyPath
    ? [requiredKeyPath]
    : config.identityFiles.length > 0
      ? config.identityFiles
      : DEFAULT_KEYS.map((k) => join(home, '.ssh', k));
  let bastion: ResolvedTarget | undefined;
  if (target.bastion) {
    bastion = resolveTarget(target.bastion, blocks, depth + 1);
  } else if (config.proxyJump && depth < 8) {
    // `a,b` means: reach b through a, then the target through b.
    // A hop never jumps through itself (`Host *` + ProxyJump would otherwise recurse).
    const hops = parseJumpHops(config.proxyJump).filter((hop) => hop.host !== target.address);
    let previous: SshTarget | undefined;
    for (const hop of hops)
      previous = { address: hop.host, port: hop.port, user: hop.user, bastion: previous };
    if (previous) bastion = resolveTarget(previous, blocks, depth + 1);
  }
  return {
    name: formatHostName(target.address, port),
    host,
    port,
    user,
    keyPaths,
    requiredKeyPath,
    hostKey: target.hostKey,
    bastion,
  };
}

function safeLocalUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? 'root';
  }
}

/**
 * What ~/.ssh/config makes of a name typed on the command line (`cplbctl drain HOST`): its HostName,
 * and Port when set; undefined when no block gives it either (then it is no alias).
 */
export function resolveAlias(
  alias: string,
  blocks: SshConfig | ConfigLine[] = loadSshConfig(),
): { host: string; port?: number } | undefined {
  const config = resolveHostConfig(blocks, alias, { home: homedir(), localUser: safeLocalUser() });
  if (config.hostName === undefined && config.port === undefined) return undefined;
  return { host: config.hostName ?? alias, ...(config.port !== undefined ? { port: config.port } : {}) };
}

/** The host a target is dialled at: the cluster file's address after ~/.ssh/config's HostName. */
export function dialHostOf(target: SshTarget, blocks: SshConfig | ConfigLine[] = loadSshConfig()): string {
  return resolveTarget(target, blocks).host;
}
