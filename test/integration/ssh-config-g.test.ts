/**
 * cplbctl resolves ~/.ssh/config as OpenSSH does: the same files through `ssh -G` (the OpenSSH
 * client's own evaluation, nothing dialled) and through resolveHostConfig must name the same host,
 * user, port, ProxyJump and identity files, with Include (globs, relative paths, inside blocks) and
 * Match (host, originalhost, user, exec, final, negation).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSshConfig, resolveHostConfig } from '../../src/ssh/ssh-config.js';

// ssh expands ~ from the passwd entry, not $HOME: the resolver gets the same home here.
const { homedir: home, username: localUser } = userInfo();
const sshDir = join(home, '.ssh');
let dir = '';
let relDir = '';
let madeSshDir = false;

function write(path: string, text: string): void {
  writeFileSync(path, text.replace(/^\n/, ''));
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cplb-sshg-'));
  madeSshDir = !existsSync(sshDir);
  mkdirSync(sshDir, { recursive: true, mode: 0o700 });
  relDir = mkdtempSync(join(sshDir, 'cplb-sshg-'));
  mkdirSync(join(dir, 'conf.d'));
  write(join(dir, 'conf.d', '05-b.conf'), 'Host ctrl-1\n  User admin\n');
  write(join(dir, 'conf.d', '10-a.conf'), 'Host ctrl-3\n  User three\n  Port 2203\n');
  // glob(3) skips dot files unless the pattern names the dot.
  write(join(dir, 'conf.d', '.hidden.conf'), 'Host ctrl-1\n  Port 9\n');
  write(join(dir, 'inner.conf'), 'HostName inner.example\nHost inc-b\n  Port 2299\n');
  write(join(relDir, 'rel.conf'), 'Host relhost\n  HostName rel.example\n  IdentityFile ~/.ssh/rel_key\n');
  write(
    join(dir, 'main.conf'),
    `
Include ${dir}/conf.d/*.conf
Include ${basename(relDir)}/rel.conf
Host ctrl-*
  HostName %h.lab.example
  IdentityFile ~/.ssh/lab_key
Match host ctrl-1.lab.example user admin
  Port 2201
Match originalhost ctrl-2
  User two
Match !host *.example exec "test %n = plain"
  ProxyJump jump1,u@jump2:2222
Match user bob
  Port 2500
Match final host ctrl-4.lab.example
  Port 2404
Host inc-*
  Include ${dir}/inner.conf
Host *
  User fallback
  IdentityFile ~/.ssh/fallback_key
`,
  );
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  if (relDir) rmSync(relDir, { recursive: true, force: true });
  if (madeSshDir) rmSync(sshDir, { recursive: true, force: true });
});

interface Seen {
  hostname: string;
  user: string;
  port: string;
  proxyjump?: string;
  identityfile: string[];
}

function sshG(alias: string, user?: string): Seen {
  const out = execFileSync(
    'ssh',
    ['-G', '-F', join(dir, 'main.conf'), ...(user ? ['-l', user] : []), alias],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  const seen: Seen = { hostname: '', user: '', port: '', identityfile: [] };
  for (const line of out.split('\n')) {
    const [key = '', ...rest] = line.split(' ');
    const value = rest.join(' ');
    if (key === 'identityfile') seen.identityfile.push(value.replace(/^~/, home));
    else if (key === 'hostname' || key === 'user' || key === 'port' || key === 'proxyjump') seen[key] = value;
  }
  return seen;
}

function ours(alias: string, user?: string): Seen {
  // A user's file: a relative Include starts in ~/.ssh (sshDir), the resolver's default.
  const c = resolveHostConfig(parseSshConfig(sshConfigText()), alias, { home, localUser, remoteUser: user });
  return {
    hostname: c.hostName ?? alias,
    user: user ?? c.user ?? localUser,
    port: String(c.port ?? 22),
    ...(c.proxyJump ? { proxyjump: c.proxyJump } : {}),
    identityfile: c.identityFiles,
  };
}

function sshConfigText(): string {
  return execFileSync('cat', [join(dir, 'main.conf')], { encoding: 'utf8' });
}

const CASES: [alias: string, user?: string][] = [
  ['ctrl-1'],
  ['ctrl-1', 'admin'],
  ['ctrl-2'],
  ['ctrl-3'],
  ['ctrl-4'],
  ['plain'],
  ['plain', 'bob'],
  ['inc-a'],
  ['inc-b'],
  ['relhost'],
  ['other'],
];

describe('~/.ssh/config resolution agrees with ssh -G', () => {
  for (const [alias, user] of CASES) {
    it(`${alias}${user ? ` as ${user}` : ''}`, () => {
      expect(ours(alias, user)).toEqual(sshG(alias, user));
    });
  }

  it('the cases exercise what they claim (Include, Match and the final pass changed something)', () => {
    expect(sshG('ctrl-1').port).toBe('2201'); // Match host+user, user from a globbed Include
    expect(sshG('ctrl-3').user).toBe('three'); // globbed Include
    expect(sshG('ctrl-4').port).toBe('2404'); // Match final
    expect(sshG('plain').proxyjump).toBe('jump1,u@jump2:2222'); // Match !host exec
    expect(sshG('inc-b').port).toBe('2299'); // Include inside a Host block, Host inside it
    expect(sshG('relhost').hostname).toBe('rel.example'); // Include relative to ~/.ssh
    expect(sshG('other').hostname).toBe('other'); // nothing of inner.conf leaks out of Host inc-*
  });
});
