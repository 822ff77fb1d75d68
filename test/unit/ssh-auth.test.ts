import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { AuthSequence, clearKeyCache, type ParseKey } from '../../src/ssh/auth.js';

// A stand-in for ssh2's parser: files say PLAIN, ENCRYPTED:<passphrase> or GARBAGE.
const parseKey: ParseKey = (data, passphrase) => {
  const text = data.toString();
  if (text.startsWith('PLAIN')) return { parsed: text };
  if (text.startsWith('ENCRYPTED:')) {
    if (passphrase === undefined)
      return new Error('Encrypted private OpenSSH key detected, but no passphrase given');
    return passphrase === text.slice(10) ? { parsed: text } : new Error('bad decrypt');
  }
  return new Error('Unsupported key format');
};

const dir = mkdtempSync(join(tmpdir(), 'cplb-auth-'));
const file = (name: string, content: string) => {
  writeFileSync(join(dir, name), content);
  return join(dir, name);
};

async function drain(seq: AuthSequence): Promise<string[]> {
  const steps: string[] = [];
  for (let s = await seq.next(); s; s = await seq.next()) steps.push(s.type === 'agent' ? 'agent' : s.path);
  return steps;
}

beforeEach(() => clearKeyCache());
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('auth order', () => {
  it('offers plain keys, then the agent, then encrypted keys; skips missing files', async () => {
    const enc = file('enc', 'ENCRYPTED:pw');
    const plain = file('plain', 'PLAIN');
    const seq = new AuthSequence({
      keyPaths: [enc, join(dir, 'missing'), plain],
      agentSocket: '/tmp/agent.sock',
      parseKey,
      passphrase: 'pw',
      canPrompt: false,
    });
    expect(await drain(seq)).toEqual([plain, 'agent', enc]);
    expect(seq.skipped).toEqual([]);
  });

  it('never prompts without a TTY: an encrypted key without passphrase is skipped with a reason', async () => {
    const enc = file('enc2', 'ENCRYPTED:pw');
    const seq = new AuthSequence({ keyPaths: [enc], parseKey, canPrompt: false });
    expect(await drain(seq)).toEqual([]);
    expect(seq.skipped.join()).toMatch(/CPLBCTL_SSH_PASSPHRASE is not set \(no TTY/);
  });

  it('reports a wrong passphrase without echoing it', async () => {
    const enc = file('enc3', 'ENCRYPTED:right');
    const seq = new AuthSequence({ keyPaths: [enc], parseKey, passphrase: 'wrong-secret', canPrompt: false });
    expect(await drain(seq)).toEqual([]);
    expect(seq.skipped.join()).toMatch(/wrong passphrase/);
    expect(seq.skipped.join()).not.toContain('wrong-secret');
  });

  it('skips unreadable key formats with the reason', async () => {
    const bad = file('bad', 'GARBAGE');
    const seq = new AuthSequence({ keyPaths: [bad], agentSocket: '/a', parseKey, canPrompt: false });
    expect(await drain(seq)).toEqual(['agent']);
    expect(seq.skipped.join()).toMatch(/Unsupported key format/);
  });
});
