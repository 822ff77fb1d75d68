/**
 * ~/.ssh/config the way OpenSSH's client reads it (readconf.c), for the keywords cplbctl uses:
 * HostName, User, Port, IdentityFile, ProxyJump. Lines apply in file order and the first value of a
 * keyword wins (IdentityFile accumulates); `Host` blocks match the name given on the command line,
 * `Match` evaluates host, originalhost, user, localuser, localnetwork, exec, all, canonical and final
 * against what is set so far; `Include` reads files (globs, `~`, paths relative to ~/.ssh), only
 * where the block it sits in applies. `ssh -G` is the reference: test/integration/ssh-config-g.test.ts
 * checks agreement on the same files.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { inSubnet } from '../contract/net.js';
import { matchPatternList, matchWildcard } from './patterns.js';

export interface ConfigLine {
  key: string;
  args: string[];
}

/** A parsed config file: its lines, and where relative Include paths start (~/.ssh for a user's file). */
export interface SshConfig {
  lines: ConfigLine[];
  includeDir: string;
}

export interface HostConfig {
  hostName?: string;
  user?: string;
  port?: number;
  identityFiles: string[];
  proxyJump?: string;
}

export interface ExpandContext {
  home: string;
  localUser: string;
  /** The user and port the cluster file gives: like `ssh -l` and `-p`, they come before the file. */
  remoteUser?: string;
  port?: number;
}

/** What evaluating a config may touch on this machine; tests replace parts of it. */
export interface ResolveEnvironment {
  readFile(path: string): string | undefined;
  /** Files a glob names, sorted (glob(3)); a path without wildcards is itself. */
  glob(pattern: string): string[];
  /** `Match exec`: true when the command exits 0 (run by /bin/sh, as ssh does). */
  exec(command: string): boolean;
  localAddresses(): string[];
  localHostname(): string;
}

/** ssh stops following Include this deep (READCONF_MAX_DEPTH). */
const MAX_INCLUDE_DEPTH = 16;

export function parseSshConfig(text: string): ConfigLine[] {
  const lines: ConfigLine[] = [];
  for (const rawLine of text.split('\n')) {
    const [keyword, ...args] = splitConfigLine(rawLine);
    if (keyword !== undefined) lines.push({ key: keyword.toLowerCase(), args });
  }
  return lines;
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

/** The real machine: files, globs, /bin/sh for `Match exec`, interfaces. */
export const LOCAL_ENVIRONMENT: ResolveEnvironment = {
  readFile(path) {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return undefined; // ssh skips an Include that names no readable file
    }
  },
  glob: globFiles,
  exec(command) {
    try {
      execFileSync('/bin/sh', ['-c', command], { stdio: 'ignore', timeout: 10_000 });
      return true;
    } catch {
      return false;
    }
  },
  localAddresses: () =>
    Object.values(networkInterfaces())
      .flat()
      .map((a) => a?.address ?? '')
      .filter(Boolean),
  localHostname: () => hostname(),
};

interface EvalState {
  alias: string;
  options: Map<string, string[]>;
  identityFiles: string[];
  ctx: ExpandContext;
  env: ResolveEnvironment;
  includeDir: string;
  finalPass: boolean;
  wantFinal: boolean;
}

export function resolveHostConfig(
  config: SshConfig | ConfigLine[],
  alias: string,
  ctx: ExpandContext,
  env: ResolveEnvironment = LOCAL_ENVIRONMENT,
): HostConfig {
  const { lines, includeDir } = Array.isArray(config)
    ? { lines: config, includeDir: join(ctx.home, '.ssh') }
    : config;
  const state: EvalState = {
    alias,
    options: new Map(),
    identityFiles: [],
    ctx,
    env,
    includeDir,
    finalPass: false,
    wantFinal: false,
  };
  // `ssh -l USER -p PORT`: set before the file is read, so the file's values do not replace them.
  if (ctx.remoteUser !== undefined) state.options.set('user', [ctx.remoteUser]);
  if (ctx.port !== undefined) state.options.set('port', [String(ctx.port)]);
  evaluate(lines, state, true, false, 0);
  // `Match final` asks for a second pass, where `final` and `canonical` match (ssh.c).
  if (state.wantFinal) {
    state.finalPass = true;
    evaluate(lines, state, true, false, 0);
  }
  const one = (key: string) => state.options.get(key)?.[0];
  const hostName = expandHostName(state);
  const portText = ctx.port === undefined ? one('port') : undefined;
  const port = portText === undefined ? undefined : Number.parseInt(portText, 10);
  const user = ctx.remoteUser === undefined ? one('user') : undefined;
  const proxyJump = one('proxyjump');
  const tokens = { ...ctx, remoteUser: ctx.remoteUser ?? user, port: ctx.port ?? port };
  return {
    hostName,
    user,
    port: Number.isInteger(port) && port !== undefined && port > 0 && port < 65536 ? port : undefined,
    identityFiles: state.identityFiles
      .filter((f) => f.toLowerCase() !== 'none')
      .map((f) => expandPath(f, alias, hostName ?? alias, tokens)),
    proxyJump: proxyJump === undefined || proxyJump.toLowerCase() === 'none' ? undefined : proxyJump,
  };
}

/** HostName with its tokens (%h the name given, %% a percent sign), as ssh expands it. */
function expandHostName(state: EvalState): string | undefined {
  const raw = state.options.get('hostname')?.[0];
  return raw?.replace(/%([%h])/g, (_, t: string) => (t === 'h' ? state.alias : '%'));
}

/**
 * One file's lines. `active` is whether the block the lines start in applies; `neverMatch` holds for
 * a file included from a block that does not apply (then nothing in it does, whatever its Host lines).
 */
function evaluate(
  lines: ConfigLine[],
  state: EvalState,
  active: boolean,
  neverMatch: boolean,
  depth: number,
) {
  for (const { key, args } of lines) {
    if (key === 'host') {
      active = !neverMatch && matchPatternList(args, state.alias);
    } else if (key === 'match') {
      active = !neverMatch && matchCriteria(args, state);
    } else if (key === 'include') {
      if (depth >= MAX_INCLUDE_DEPTH) continue;
      for (const pattern of args) {
        const path = expandTilde(pattern, state.ctx.home);
        for (const file of state.env.glob(isAbsolute(path) ? path : join(state.includeDir, path))) {
          const text = state.env.readFile(file);
          // The included file starts in the includer's block; the includer's block resumes after it.
          if (text !== undefined)
            evaluate(parseSshConfig(text), state, active, neverMatch || !active, depth + 1);
        }
      }
    } else if (active) {
      // IdentityFile accumulates; ssh ignores a file it already has (the final pass reads them again).
      if (key === 'identityfile')
        state.identityFiles.push(...args.filter((f) => !state.identityFiles.includes(f)));
      else if (!state.options.has(key)) state.options.set(key, args);
    }
  }
}

/** A Match line: every criterion must hold; `!` negates one; values are comma-separated pattern lists. */
function matchCriteria(args: string[], state: EvalState): boolean {
  let result = true;
  for (let i = 0; i < args.length; i++) {
    const raw = args[i]!;
    const negate = raw.startsWith('!');
    const attribute = (negate ? raw.slice(1) : raw).toLowerCase();
    if (attribute === 'all') continue;
    if (attribute === 'canonical' || attribute === 'final') {
      if (attribute === 'final') state.wantFinal = true;
      if (state.finalPass === negate) result = false;
      continue;
    }
    const value = args[++i];
    if (value === undefined) return false; // ssh refuses the line: it never applies
    const list = value.split(',');
    let matched: boolean;
    switch (attribute) {
      case 'host':
        matched = matchPatternList(list, expandHostName(state) ?? state.alias);
        break;
      case 'originalhost':
        matched = matchPatternList(list, state.alias);
        break;
      case 'user':
        matched = matchPatternList(list, state.options.get('user')?.[0] ?? state.ctx.localUser);
        break;
      case 'localuser':
        matched = matchPatternList(list, state.ctx.localUser);
        break;
      case 'localnetwork':
        matched = state.env.localAddresses().some((a) => list.some((cidr) => inCidr(a, cidr)));
        break;
      case 'exec':
        // ssh runs the command only while the line can still match.
        if (!result) continue;
        matched = state.env.exec(expandExecTokens(value, state));
        break;
      default:
        return false; // an attribute this ssh does not know: the line never applies
    }
    if (matched === negate) result = false;
  }
  return result;
}

function inCidr(address: string, cidr: string): boolean {
  const [network = '', bits] = cidr.split('/');
  const prefix = bits === undefined ? (network.includes(':') ? 128 : 32) : Number(bits);
  return inSubnet(address, network, prefix);
}

/** The tokens `Match exec` expands (ssh_config(5) TOKENS), as far as they are known before connecting. */
function expandExecTokens(command: string, state: EvalState): string {
  const host = expandHostName(state) ?? state.alias;
  const local = state.env.localHostname();
  return command.replace(/%([%dhLlnpru])/g, (_, t: string) => {
    switch (t) {
      case 'd':
        return state.ctx.home;
      case 'h':
        return host;
      case 'L':
        return local.split('.')[0] ?? local;
      case 'l':
        return local;
      case 'n':
        return state.alias;
      case 'p':
        return state.options.get('port')?.[0] ?? '22';
      case 'r':
        return state.options.get('user')?.[0] ?? state.ctx.localUser;
      case 'u':
        return state.ctx.localUser;
      default:
        return '%';
    }
  });
}

function expandTilde(path: string, home: string): string {
  return path === '~' || path.startsWith('~/') ? home + path.slice(1) : path;
}

/** `~` and the common % tokens of IdentityFile. */
export function expandPath(path: string, alias: string, host: string, ctx: ExpandContext): string {
  return expandTilde(path, ctx.home).replace(/%([%dhnpru])/g, (_, token: string) => {
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

/**
 * glob(3) for Include: `*`, `?` and `[...]` within a path segment; a leading dot is matched only by
 * a pattern that starts with one; results sorted.
 */
function globFiles(pattern: string): string[] {
  const segments = pattern.split('/');
  let paths = [segments[0] === '' ? '/' : segments[0]!];
  for (const segment of segments.slice(1)) {
    if (segment === '') continue;
    if (!/[*?[]/.test(segment)) {
      paths = paths.map((p) => join(p, segment));
      continue;
    }
    const next: string[] = [];
    for (const dir of paths) {
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        continue;
      }
      for (const name of names)
        if ((!name.startsWith('.') || segment.startsWith('.')) && globSegment(segment, name))
          next.push(join(dir, name));
    }
    paths = next;
  }
  return paths.sort();
}

function globSegment(pattern: string, name: string): boolean {
  if (!pattern.includes('[')) return matchWildcard(pattern, name);
  const re = pattern.replace(/\[!?[^\]]*\]|[*?]|[^*?[]+/g, (part) => {
    if (part === '*') return '.*';
    if (part === '?') return '.';
    if (part.startsWith('[')) return part.startsWith('[!') ? `[^${part.slice(2)}` : part;
    return part.replace(/[.+^${}()|\\]/g, '\\$&');
  });
  return new RegExp(`^${re}$`).test(name);
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
