/**
 * The fixture catalogue: every file in fixtures/invalid must fail with exactly the diagnostics in
 * its .expected file, and every file in fixtures/valid must load (with the warnings in its
 * .expected file, if any). The library checks all of them; the built CLI checks a sample plus the
 * exit codes. Both run with HOME=fixtures/home, where ~/.ssh/id_rsa exists (a placeholder).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatDiagnostic } from '../../src/config/diagnostics.js';
import { loadClusterText } from '../../src/config/load.js';
import { buildCli, FIXTURE_HOME, REPO, runCli } from '../support/cli.js';

const fixtures = (dir: 'valid' | 'invalid') =>
  readdirSync(join(REPO, 'fixtures', dir))
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => `fixtures/${dir}/${f}`);
const INVALID = fixtures('invalid');
const VALID = fixtures('valid');

const expectedLines = (file: string): string[] => {
  const path = join(REPO, file.replace(/\.yaml$/, '.expected'));
  return existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean) : [];
};
const load = (file: string) => loadClusterText(readFileSync(join(REPO, file), 'utf8'), file);

/** Fixtures whose authPass must never show, with the secret text each holds. */
const SECRETS: Record<string, string> = {
  'fixtures/invalid/authpass-too-long.yaml': 'TooLongSecret42',
  'fixtures/invalid/authpass-with-space.yaml': 'pass wd',
  'fixtures/invalid/authpass-with-hash.yaml': 'pw#1234',
  'fixtures/invalid/authpass-non-ascii.yaml': 'pässwd',
  'fixtures/invalid/yaml-unresolved-alias.yaml': 'hunter2',
};

const savedHome = process.env.HOME;
beforeAll(() => {
  process.env.HOME = FIXTURE_HOME;
});
afterAll(() => {
  process.env.HOME = savedHome;
});

describe('host names', () => {
  it('bracket an IPv6 SSH address, as status and verify print them', () => {
    const { cluster } = load('fixtures/valid/native-ipv6.yaml');
    expect(cluster!.controllers.map((h) => h.name)).toEqual([
      '[2001:db8:10::11]:22',
      '[2001:db8:10::12]:22',
      '[2001:db8:10::13]:22',
    ]);
  });
});

describe('the catalogue itself', () => {
  it('has the required breadth', () => {
    expect(INVALID.length).toBeGreaterThanOrEqual(45);
    expect(
      INVALID.filter((f) => readFileSync(join(REPO, f), 'utf8').includes('k0sctl.k0sproject.io/v1beta1'))
        .length,
    ).toBeGreaterThanOrEqual(8);
    expect(VALID.length).toBeGreaterThanOrEqual(8);
    expect(VALID).toContain('fixtures/valid/k0sctl-seed.yaml');
  });

  it('keeps every invalid fixture beside its .expected file', () => {
    for (const f of INVALID) expect(expectedLines(f), f).not.toEqual([]);
  });

  it('holds the seed example exactly as the k0s doc prints it', () => {
    const seed = readFileSync('/work/shared/seeds/000_dc70a42fe4593824.txt', 'utf8');
    const block = /## Full example using `k0sctl`[\s\S]*?```yaml\n([\s\S]*?)```/.exec(seed)?.[1];
    expect(block).toBeDefined();
    expect(readFileSync(join(REPO, 'fixtures/valid/k0sctl-seed.yaml'), 'utf8')).toBe(block);
  });
});

describe.each(INVALID)('invalid %s', (file) => {
  it('fails with exactly the expected diagnostics, each pinned to file:line:col and a field path', () => {
    const { cluster, diagnostics } = load(file);
    expect(cluster).toBeUndefined();
    const lines = diagnostics.map(formatDiagnostic);
    expect(lines).toEqual(expectedLines(file));
    for (const line of lines)
      expect(line).toMatch(new RegExp(`^${file.replace(/\./g, '\\.')}:[1-9]\\d*:[1-9]\\d* \\S+: \\S.*; \\S`));
    expect(diagnostics.some((d) => d.severity === 'error')).toBe(true);
  });
});

describe.each(VALID)('valid %s', (file) => {
  it('loads, with only the expected warnings', () => {
    const { cluster, diagnostics } = load(file);
    expect(diagnostics.map(formatDiagnostic)).toEqual(expectedLines(file));
    expect(diagnostics.every((d) => d.severity === 'warning')).toBe(true);
    expect(cluster).toBeDefined();
    expect(cluster!.controllers.length).toBeGreaterThan(0);
  });
});

describe('authPass secrecy (library)', () => {
  it.each(Object.entries(SECRETS))('%s never shows its authPass', (file, secret) => {
    expect(readFileSync(join(REPO, file), 'utf8')).toContain(secret);
    const { diagnostics } = load(file);
    expect(diagnostics.length).toBeGreaterThan(0);
    expect(JSON.stringify(diagnostics)).not.toContain(secret);
  });
});

describe('the built CLI', () => {
  beforeAll(() => buildCli());

  // A sample across layers and both formats; the library covers every file above.
  const SAMPLE = [
    'fixtures/invalid/yaml-duplicate-key.yaml',
    'fixtures/invalid/unknown-key-did-you-mean.yaml',
    'fixtures/invalid/vrid-duplicate-default.yaml',
    'fixtures/invalid/k0sctl-cplb-missing.yaml',
    'fixtures/invalid/k0sctl-vs-controller-worker.yaml',
    'fixtures/invalid/keypath-missing.yaml',
    'fixtures/invalid/many-problems.yaml',
    ...Object.keys(SECRETS),
    'fixtures/valid/k0sctl-seed.yaml',
    'fixtures/valid/k0sctl-full.yaml',
    'fixtures/valid/native-vrrp3-fast.yaml',
    'fixtures/valid/native-single-controller.yaml',
    // k0s's own documented examples of its newer fields (addressLabel 1.34, templates 1.35.1).
    'fixtures/valid/k0sctl-k0s-docs-address-label.yaml',
    'fixtures/invalid/k0sctl-k0s-docs-templates.yaml',
  ];

  it('prints the expected lines and exits 2 (invalid) or 0 (valid), never echoing authPass', async () => {
    const results = await Promise.all(SAMPLE.map((f) => runCli(['validate', f]).then((r) => ({ f, ...r }))));
    for (const { f, code, stdout, stderr } of results) {
      const valid = f.startsWith('fixtures/valid/');
      expect(code, `${f}\n${stderr}`).toBe(valid ? 0 : 2);
      const diagnostics = stderr.split('\n').filter((l) => l.startsWith(`${f}:`) && /^\S+:\d+:\d+ /.test(l));
      expect(diagnostics, f).toEqual(expectedLines(f));
      if (valid) expect(stdout).toMatch(new RegExp(`^${f}: valid \\(`));
      else expect(stderr).toMatch(new RegExp(`^${f}: \\d+ errors?$`, 'm'));
      const secret = SECRETS[f];
      if (secret) expect(stdout + stderr).not.toContain(secret);
    }
  });

  it('fails the seed file when HOME has no ~/.ssh/id_rsa: the keyPath rule is real', async () => {
    const r = await runCli(['validate', 'fixtures/valid/k0sctl-seed.yaml'], {
      env: { HOME: join(REPO, 'fixtures') },
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'fixtures/valid/k0sctl-seed.yaml:11:16 spec.hosts[0].ssh.keyPath: key file ~/.ssh/id_rsa does not exist',
    );
  });
});
