import { homedir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseJumpHops, parseSshConfig, resolveHostConfig } from '../../src/ssh/ssh-config.js';
import { resolveTarget } from '../../src/ssh/target.js';

const ctx = { home: '/home/op', localUser: 'op' };

const CONFIG = `
# global defaults come first in the file
IdentityFile ~/.ssh/global_key

Host bastion
  HostName 203.0.113.10
  User jump
  Port 2200

Host ctrl-* !ctrl-legacy
  HostName %h.lab.example
  User = admin
  IdentityFile "~/.ssh/lab key"
  ProxyJump bastion
  Port=2222

Match host ctrl-1
  User should-be-ignored

Host ctrl-1
  User first-wins-so-ignored
  Port 9999
  IdentityFile %d/.ssh/ctrl1_%r

Host *
  User fallback
  Port 22
  ProxyJump none
`;

describe('ssh config parsing', () => {
  const blocks = parseSshConfig(CONFIG);

  it('keeps the first value for each keyword across matching blocks', () => {
    const c = resolveHostConfig(blocks, 'ctrl-1', ctx);
    expect(c).toEqual({
      hostName: 'ctrl-1.lab.example',
      user: 'admin',
      port: 2222,
      identityFiles: ['/home/op/.ssh/global_key', '/home/op/.ssh/lab key', '/home/op/.ssh/ctrl1_admin'],
      proxyJump: 'bastion',
    });
  });

  it('honours negated patterns and the catch-all', () => {
    const legacy = resolveHostConfig(blocks, 'ctrl-legacy', ctx);
    expect(legacy).toMatchObject({ hostName: undefined, user: 'fallback', port: 22, proxyJump: undefined });
  });

  it('matches host names case-insensitively and keywords in any case', () => {
    const c = resolveHostConfig(parseSshConfig('HOST Node1\n  hostname 10.0.0.1\n  USER x'), 'node1', ctx);
    expect(c).toMatchObject({ hostName: '10.0.0.1', user: 'x' });
  });

  it('ignores comments, blank lines and nonsense ports; Match all applies to every host, as in OpenSSH', () => {
    const c = resolveHostConfig(
      parseSshConfig('Host a # trailing comment\n Port 99999\nMatch all\n User m\n'),
      'a',
      ctx,
    );
    expect(c).toEqual({
      hostName: undefined,
      user: 'm',
      port: undefined,
      identityFiles: [],
      proxyJump: undefined,
    });
  });

  it('parses ProxyJump hops in order, with users, ports and IPv6 brackets', () => {
    expect(parseJumpHops('a')).toEqual([{ user: undefined, host: 'a', port: undefined }]);
    expect(parseJumpHops('u@a:2200,ssh://[fd00::1]:22')).toEqual([
      { user: 'u', host: 'a', port: 2200 },
      { user: undefined, host: 'fd00::1', port: 22 },
    ]);
  });
});

describe('target resolution', () => {
  const blocks = parseSshConfig(CONFIG);

  it('lets the cluster file win over ssh config and keeps the written address as the name', () => {
    const t = resolveTarget({ address: 'ctrl-2', port: 22, user: 'root', keyPath: '~/k' }, blocks);
    expect(t).toMatchObject({
      name: 'ctrl-2:22',
      host: 'ctrl-2.lab.example',
      port: 22,
      user: 'root',
      keyPaths: [join(homedir(), 'k')],
      requiredKeyPath: join(homedir(), 'k'),
    });
  });

  it('fills user, port, keys and a bastion from ssh config', () => {
    const t = resolveTarget({ address: 'ctrl-2' }, blocks);
    expect(t).toMatchObject({ name: 'ctrl-2:2222', user: 'admin', port: 2222, requiredKeyPath: undefined });
    expect(t.bastion).toMatchObject({ name: 'bastion:2200', host: '203.0.113.10', user: 'jump', port: 2200 });
    expect(t.bastion?.bastion).toBeUndefined();
  });

  it('chains ProxyJump a,b as target via b via a', () => {
    const t = resolveTarget({ address: 'x' }, parseSshConfig('Host x\n ProxyJump a,u@b:2\n'));
    expect(t.bastion).toMatchObject({ name: 'b:2', user: 'u' });
    expect(t.bastion?.bastion).toMatchObject({ name: 'a:22', user: 'root' });
  });

  it('prefers an explicit bastion over ProxyJump and defaults to root on port 22', () => {
    const t = resolveTarget({ address: 'ctrl-3', bastion: { address: '10.9.9.9', user: 'b' } }, []);
    expect(t).toMatchObject({ name: 'ctrl-3:22', user: 'root', port: 22 });
    expect(t.keyPaths).toEqual(['id_ed25519', 'id_ecdsa', 'id_rsa'].map((k) => join(homedir(), '.ssh', k)));
    expect(t.bastion).toMatchObject({ name: '10.9.9.9:22', user: 'b' });
  });

  it('does not jump through itself under a catch-all ProxyJump', () => {
    const t = resolveTarget({ address: 'bastion' }, parseSshConfig('Host *\n ProxyJump bastion\n'));
    expect(t.bastion).toBeUndefined();
  });

  it('brackets IPv6 addresses in host names', () => {
    expect(resolveTarget({ address: 'fd00::5', port: 2222 }, []).name).toBe('[fd00::5]:2222');
  });
});
