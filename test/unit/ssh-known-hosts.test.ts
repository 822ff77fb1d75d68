import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  appendKnownHost,
  checkHostKey,
  hostToken,
  knownHostsLine,
  knownKeyTypes,
  loadKnownHosts,
  parseKnownHosts,
} from '../../src/ssh/known-hosts.js';
import { matchPatternList, matchWildcard } from '../../src/ssh/patterns.js';

const ED = 'AAAAC3NzaC1lZDI1NTE5AAAAIOUZZXPX/RbN4z0J+WZJg4Em1fdeWfOSQ3i73tiTb+Q5';
const EC =
  'AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBH0CbZBrv9N8yD2RhIo/AyttKZHqwfyhsPuA/b0YZHtbK54qgAQ/W5PzzEImgvAv9m+5/Mn0gaXYmg9OAks5PK8=';
const edKey = Buffer.from(ED, 'base64');
const ecKey = Buffer.from(EC, 'base64');

// Hashed by `ssh-keygen -H` from "[10.1.2.3]:2222" and "node1.example.com" lines.
const HASHED = `|1|XvtGS8xYb0s8+2IeQPlJGe9UG+8=|7LEHRK2sJmHUZ/9rR+3FHgyGnoQ= ssh-ed25519 ${ED}
|1|Xw900ldHKJu37Rv7QpoEU67hjpw=|PBzT6ygWIiVlLOJaiGHKOByZ0vY= ssh-ed25519 ${ED}
`;

describe('known_hosts parsing', () => {
  it('reads plain, bracketed, hashed and marker lines, skipping comments and junk', () => {
    const entries = parseKnownHosts(
      `# comment

node1,10.0.0.5 ssh-ed25519 ${ED} root@node1
[10.0.0.6]:2222 ecdsa-sha2-nistp256 ${EC}
@revoked * ecdsa-sha2-nistp256 ${EC}
@cert-authority *.example.com ssh-ed25519 ${ED}
@unknown-marker node9 ssh-ed25519 ${ED}
node7 ssh-ed25519 not-base64-of-an-ed25519-key
node8 ssh-rsa ${ED}
${HASHED}`,
      'kh',
    );
    expect(entries.map((e) => [e.marker, e.patterns, e.hashed !== null, e.keyType, e.line])).toEqual([
      [null, ['node1', '10.0.0.5'], false, 'ssh-ed25519', 3],
      [null, ['[10.0.0.6]:2222'], false, 'ecdsa-sha2-nistp256', 4],
      ['revoked', ['*'], false, 'ecdsa-sha2-nistp256', 5],
      ['cert-authority', ['*.example.com'], false, 'ssh-ed25519', 6],
      [null, null, true, 'ssh-ed25519', 10],
      [null, null, true, 'ssh-ed25519', 11],
    ]);
  });

  it('names hosts like OpenSSH: bare on port 22, [host]:port otherwise', () => {
    expect(hostToken('10.0.0.1', 22)).toBe('10.0.0.1');
    expect(hostToken('10.0.0.1', 2222)).toBe('[10.0.0.1]:2222');
    expect(knownHostsLine('h', 2200, edKey)).toBe(`[h]:2200 ssh-ed25519 ${ED}`);
  });
});

describe('known_hosts matching', () => {
  it('matches entries hashed by ssh-keygen -H, including [host]:port', () => {
    const entries = parseKnownHosts(HASHED);
    expect(checkHostKey(entries, '10.1.2.3', 2222, edKey).status).toBe('match');
    expect(checkHostKey(entries, 'NODE1.example.com', 22, edKey).status).toBe('match');
    expect(checkHostKey(entries, '10.1.2.3', 22, edKey).status).toBe('unknown');
    expect(checkHostKey(entries, 'node1.example.com', 2222, edKey).status).toBe('unknown');
    expect(checkHostKey(entries, '10.1.2.3', 2222, ecKey).status).toBe('mismatch');
  });

  it('treats a port as part of the name', () => {
    const entries = parseKnownHosts(`[10.0.0.6]:2222 ssh-ed25519 ${ED}\n10.0.0.6 ecdsa-sha2-nistp256 ${EC}`);
    expect(checkHostKey(entries, '10.0.0.6', 2222, edKey).status).toBe('match');
    expect(checkHostKey(entries, '10.0.0.6', 22, ecKey).status).toBe('match');
    expect(checkHostKey(entries, '10.0.0.6', 22, edKey).status).toBe('mismatch');
    expect(checkHostKey(entries, '10.0.0.6', 2223, edKey).status).toBe('unknown');
  });

  it('honours wildcards and negations in host patterns', () => {
    const entries = parseKnownHosts(`*.lab,!bad.lab ssh-ed25519 ${ED}`);
    expect(checkHostKey(entries, 'a.lab', 22, edKey).status).toBe('match');
    expect(checkHostKey(entries, 'bad.lab', 22, edKey).status).toBe('unknown');
  });

  it('rejects a revoked key even when another line trusts it, and ignores cert authorities', () => {
    const entries = parseKnownHosts(`h ecdsa-sha2-nistp256 ${EC}\n@revoked * ecdsa-sha2-nistp256 ${EC}`);
    expect(checkHostKey(entries, 'h', 22, ecKey).status).toBe('revoked');
    const ca = parseKnownHosts(`@cert-authority h ssh-ed25519 ${ED}`);
    expect(checkHostKey(ca, 'h', 22, edKey).status).toBe('unknown');
  });

  it('reports a changed key as mismatch with every entry that disagrees', () => {
    const entries = parseKnownHosts(`h ecdsa-sha2-nistp256 ${EC}`, '/x/known_hosts');
    const check = checkHostKey(entries, 'h', 22, edKey);
    expect(check.status).toBe('mismatch');
    if (check.status === 'mismatch')
      expect(check.entries[0]).toMatchObject({ file: '/x/known_hosts', line: 1 });
  });

  it('lists the key types known for a host (offered first during key exchange)', () => {
    const entries = parseKnownHosts(
      `h ecdsa-sha2-nistp256 ${EC}\nh,g ssh-ed25519 ${ED}\ng ssh-ed25519 ${ED}`,
    );
    expect(knownKeyTypes(entries, 'h', 22)).toEqual(['ecdsa-sha2-nistp256', 'ssh-ed25519']);
    expect(knownKeyTypes(entries, 'x', 22)).toEqual([]);
  });
});

describe('host patterns', () => {
  it('globs with * and ?', () => {
    expect(matchWildcard('*.example.com', 'a.b.example.com')).toBe(true);
    expect(matchWildcard('node?', 'node1')).toBe(true);
    expect(matchWildcard('node?', 'node12')).toBe(false);
    expect(matchWildcard('a*b*c', 'axxbyyc')).toBe(true);
    expect(matchWildcard('a*b*c', 'axxbyy')).toBe(false);
    expect(matchWildcard('*', '')).toBe(true);
  });

  it('lets a negation only exclude', () => {
    expect(matchPatternList(['!a'], 'b')).toBe(false);
    expect(matchPatternList(['*', '!a'], 'a')).toBe(false);
    expect(matchPatternList(['*', '!a'], 'B')).toBe(true);
  });
});

describe('known_hosts files', () => {
  it('treats a missing file as empty and appends on a fresh line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cplb-kh-'));
    const file = join(dir, 'sub', 'known_hosts');
    expect(await loadKnownHosts([file])).toEqual([]);
    await appendKnownHost(file, knownHostsLine('h', 22, edKey));
    writeFileSync(file, readFileSync(file, 'utf8') + `g ssh-ed25519 ${ED}`); // no trailing newline
    await appendKnownHost(file, knownHostsLine('k', 2222, ecKey));
    const entries = await loadKnownHosts([file]);
    expect(entries.map((e) => e.patterns?.[0])).toEqual(['h', 'g', '[k]:2222']);
    expect(checkHostKey(entries, 'k', 2222, ecKey).status).toBe('match');
    rmSync(dir, { recursive: true, force: true });
  });
});
