import { matchPatternList } from './patterns.js';

/**
 * A small ~/.ssh/config reader: Host blocks with patterns, first value wins per keyword (as in
 * OpenSSH), IdentityFile accumulates. `Match` blocks are skipped (their conditions need a live
 * connection to evaluate) and `Include` is not followed.
 */

export interface SshConfigBlock {
  /** null for the options before the first Host line, which apply to every host. */
  patterns: string[] | null;
  options: Array<{ key: string; args: string[] }>;
}

export interface HostConfig {
  hostName?: string;
  user?: string;
  port?: number;
  identityFiles: string[];
  proxyJump?: string;
}

export function parseSshConfig(text: string): SshConfigBlock[] {
  const blocks: SshConfigBlock[] = [{ patterns: null, options: [] }];
  let current: SshConfigBlock | null = blocks[0] ?? null;
  for (const rawLine of text.split('\n')) {
    const words = splitConfigLine(rawLine);
    const [keyword, ...args] = words;
    if (keyword === undefined) continue;
    const key = keyword.toLowerCase();
    if (key === 'host') {
      current = { patterns: args, options: [] };
      blocks.push(current);
    } else if (key === 'match') {
      current = null;
    } else if (current) {
      current.options.push({ key, args });
    }
  }
  return blocks;
}

/** Splits `Key value`, `Key=value` and `Key = "quoted value"`; drops comments. */
function splitConfigLine(line: string): string[] {
  const trimmed = line.trim();
  if (trimmed === '' || trimmed.startsWith('#')) return [];
  const keyMatch = /^([^\s=]+)\s*(?:=\s*|\s+|$)/.exec(trimmed);
  if (!keyMatch?.[1]) return [];
  const words = [keyMatch[1]];
  const rest = trimmed.slice(keyMatch[0].length);
  for (const m of rest.matchAll(/"([^"]*)"|(\S+)/g)) {
    const word = m[1] ?? m[2] ?? '';
    if (m[2]?.startsWith('#')) break;
    words.push(word);
  }
  return words;
}

export interface ExpandContext {
  home: string;
  localUser: string;
  remoteUser?: string;
  port?: number;
}

export function resolveHostConfig(
  blocks: readonly SshConfigBlock[],
  alias: string,
  ctx: ExpandContext,
): HostConfig {
  const first = new Map<string, string[]>();
  const identityFiles: string[] = [];
  for (const block of blocks) {
    if (block.patterns !== null && !matchPatternList(block.patterns, alias)) continue;
    for (const { key, args } of block.options) {
      if (key === 'identityfile') identityFiles.push(...args);
      else if (!first.has(key)) first.set(key, args);
    }
  }
  const one = (key: string) => first.get(key)?.[0];
  const hostName = one('hostname')?.replaceAll('%h', alias);
  const portText = one('port');
  const port = portText === undefined ? undefined : Number.parseInt(portText, 10);
  const user = one('user');
  const proxyJump = one('proxyjump');
  const tokens = { ...ctx, remoteUser: ctx.remoteUser ?? user, port: ctx.port ?? port };
  return {
    hostName,
    user,
    port: Number.isInteger(port) && port !== undefined && port > 0 && port < 65536 ? port : undefined,
    identityFiles: identityFiles
      .filter((f) => f.toLowerCase() !== 'none')
      .map((f) => expandPath(f, alias, hostName ?? alias, tokens)),
    proxyJump: proxyJump === undefined || proxyJump.toLowerCase() === 'none' ? undefined : proxyJump,
  };
}

/** `~` and the common % tokens of IdentityFile. */
export function expandPath(path: string, alias: string, host: string, ctx: ExpandContext): string {
  const withHome = path === '~' || path.startsWith('~/') ? ctx.home + path.slice(1) : path;
  return withHome.replace(/%([%dhnpru])/g, (_, token: string) => {
    switch (token) {
      case 'd':
        return ctx.home;
      case 'h':
        return host;
      case 'n':
        return alias;
      case 'p':
        return String(ctx.port ?? 22);
      case 'r':
        return ctx.remoteUser ?? '';
      case 'u':
        return ctx.localUser;
      default:
        return '%';
    }
  });
}

export interface JumpHop {
  user?: string;
  host: string;
  port?: number;
}

/** ProxyJump `[user@]host[:port][,next...]` (also `[v6addr]:port`), hops in connection order. */
export function parseJumpHops(spec: string): JumpHop[] {
  return spec
    .split(',')
    .map((hop) => hop.trim().replace(/^ssh:\/\//, ''))
    .filter(Boolean)
    .map((hop) => {
      const at = hop.lastIndexOf('@');
      const user = at >= 0 ? hop.slice(0, at) : undefined;
      const hostPort = at >= 0 ? hop.slice(at + 1) : hop;
      const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(hostPort) ?? /^([^:]+)(?::(\d+))?$/.exec(hostPort);
      const port = m?.[2] === undefined ? undefined : Number.parseInt(m[2], 10);
      return { user, host: m?.[1] ?? hostPort, port };
    });
}
