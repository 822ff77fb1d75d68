/**
 * The config commands through the built CLI, as a user runs them: help with examples, --version,
 * init output that validates, missing files, JSON output, and the proof that `validate` stays
 * offline: a preload that records and blocks every network call, and a run in an empty network
 * namespace (`unshare -n`, root only) that must print exactly what a normal run prints.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, REPO, runCli, type CliResult } from '../support/cli.js';

const PRELOAD = join(REPO, 'test/support/no-network.mjs');
const PKG_VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string })
  .version;

/** Valid and invalid, both formats, warnings, a keyPath stat and a YAML error. */
const OFFLINE_FILES = [
  'fixtures/valid/k0sctl-seed.yaml',
  'fixtures/valid/k0sctl-full.yaml',
  'fixtures/valid/native-unicast.yaml',
  'fixtures/valid/native-vrrp3-fast.yaml',
  'fixtures/invalid/keypath-missing.yaml',
  'fixtures/invalid/k0sctl-cplb-missing.yaml',
  'fixtures/invalid/vip-is-host-address.yaml',
  'fixtures/invalid/yaml-syntax-unclosed-list.yaml',
  'fixtures/invalid/authpass-with-space.yaml',
];

let tmp: string;
beforeAll(() => {
  buildCli();
  tmp = mkdtempSync(join(tmpdir(), 'cplbctl-validate-cli-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('help and version', () => {
  it('shows examples and exit codes in --help', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Examples:\n\s+cplbctl init > cluster\.yaml/);
    expect(r.stdout).toContain('cplbctl validate k0sctl.yaml');
    expect(r.stdout).toMatch(/Exit codes: 0 ok.*2 config or usage error/);
  });

  it('shows examples in validate --help and init --help', async () => {
    const validate = await runCli(['validate', '--help']);
    expect(validate.code).toBe(0);
    expect(validate.stdout).toContain('FILE:LINE:COL path.to.field: what is wrong; what to do');
    expect(validate.stdout).toMatch(/Examples:\n\s+cplbctl validate /);
    const init = await runCli(['init', '--help']);
    expect(init.code).toBe(0);
    expect(init.stdout).toMatch(/Examples:\n\s+cplbctl init > cluster\.yaml/);
    expect(init.stdout).toContain('--k0sctl');
  });

  it('prints the package version', async () => {
    for (const flag of ['--version', '-v']) {
      const r = await runCli([flag]);
      expect(r).toEqual({ code: 0, stdout: `${PKG_VERSION}\n`, stderr: '' });
    }
  });
});

describe('init output validates', () => {
  const cases: [string, string[], RegExp][] = [
    ['native', [], /valid \(native format, 3 controllers, VIPs 192\.168\.122\.200\/24\)/],
    ['k0sctl', ['--k0sctl'], /valid \(k0sctl format, 3 controllers, VIPs 192\.168\.122\.200\/24\)/],
    [
      'native with controllers and a VIP',
      [
        '--controller',
        'root@10.9.0.11',
        '--controller',
        'admin@10.9.0.12:2222',
        '--controller',
        'ops@[2001:db8::13]:22',
        '--vip',
        '10.9.0.100/24',
      ],
      /valid \(native format, 3 controllers, VIPs 10\.9\.0\.100\/24\)/,
    ],
    [
      'k0sctl with controllers',
      [
        '--k0sctl',
        '--controller',
        'root@cp-0.lab',
        '--controller',
        'root@cp-1.lab',
        '--vip',
        'fd00:9::100/64',
      ],
      /valid \(k0sctl format, 2 controllers, VIPs fd00:9::100\/64\)/,
    ],
  ];

  it.each(cases)('%s', async (name, args, summary) => {
    const init = await runCli(['init', ...args]);
    expect(init.code, init.stderr).toBe(0);
    const file = join(tmp, `${name.replace(/\W+/g, '-')}.yaml`);
    writeFileSync(file, init.stdout);
    const r = await runCli(['validate', file]);
    // An IPv6 VIP always runs VRRPv3, which ignores the (required) authPass: the one warning it gets.
    const warnings = r.stderr.split('\n').filter(Boolean);
    if (args.includes('--vip') && args[args.indexOf('--vip') + 1]!.includes(':'))
      expect(warnings).toEqual([
        expect.stringMatching(/authPass: warning: an IPv6 instance always runs VRRP version 3/),
      ]);
    else expect(warnings).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(summary);
  });

  it('writes the controllers it is given, ports and users included', async () => {
    const r = await runCli(['init', '--controller', 'admin@10.9.0.12:2222']);
    expect(r.stdout).toContain('address: "10.9.0.12"\n        user: "admin"\n        port: 2222\n');
  });

  it('refuses a malformed --controller as a usage error', async () => {
    const r = await runCli(['init', '--controller', 'root@host:99999']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--controller root@host:99999: port must be 1-65535');
  });
});

describe('validate', () => {
  it('names a missing file and suggests cplbctl init (exit 2)', async () => {
    const r = await runCli(['validate', 'no-such-cluster.yaml']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('no-such-cluster.yaml: no such file');
    expect(r.stderr).toContain('cplbctl init > no-such-cluster.yaml');
  });

  it('reads ./cluster.yaml when no file is named', async () => {
    const r = await runCli(['validate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('cluster.yaml: no such file');
  });

  it('prints JSON with -o json: valid with warnings (exit 0)', async () => {
    const r = await runCli(['validate', '-o', 'json', 'fixtures/valid/native-vrrp3-fast.yaml']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as {
      file: string;
      valid: boolean;
      diagnostics: Record<string, unknown>[];
    };
    expect(out).toMatchObject({ file: 'fixtures/valid/native-vrrp3-fast.yaml', valid: true });
    expect(out.diagnostics).toEqual([
      expect.objectContaining({
        severity: 'warning',
        rule: 'auth-pass-v3',
        line: 22,
        col: 21,
        path: ['spec', 'controlPlaneLoadBalancing', 'keepalived', 'vrrpInstances', 0, 'authPass'],
      }),
    ]);
  });

  it('prints JSON with -o json: invalid (exit 2), never the authPass', async () => {
    const r = await runCli(['validate', '--output', 'json', 'fixtures/invalid/authpass-too-long.yaml']);
    expect(r.code).toBe(2);
    const out = JSON.parse(r.stdout) as { valid: boolean; diagnostics: { rule: string; severity: string }[] };
    expect(out.valid).toBe(false);
    expect(out.diagnostics.map((d) => [d.rule, d.severity])).toEqual([['auth-pass', 'error']]);
    expect(r.stdout + r.stderr).not.toContain('TooLongSecret42');
  });

  it('refuses an unknown output format as a usage error', async () => {
    const r = await runCli(['validate', '-o', 'yaml', 'fixtures/valid/native-minimal.yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Allowed choices are text, json');
  });
});

describe('validate stays offline', () => {
  it('the preload really records and blocks network calls (control)', () => {
    const report = join(tmp, 'control.json');
    const script = `
      const net = require('node:net'), dns = require('node:dns'), dgram = require('node:dgram'), https = require('node:https');
      for (const call of [() => net.connect(9, '127.0.0.1'), () => dns.lookup('localhost', () => {}), () => dgram.createSocket('udp4'), () => https.get('https://127.0.0.1:9/')])
        try { call(); } catch {}`;
    execFileSync(process.execPath, ['--import', PRELOAD, '-e', script], {
      env: { ...process.env, CPLBCTL_NET_REPORT: report },
    });
    expect(JSON.parse(readFileSync(report, 'utf8'))).toEqual([
      'net.connect',
      'dns.lookup',
      'dgram.createSocket',
      'https.get',
    ]);
  });

  // One preloaded run per file, all at once; the unshare test compares against these too.
  const preloaded = new Map<string, CliResult & { attempts: string[] }>();
  beforeAll(async () => {
    await Promise.all(
      OFFLINE_FILES.map(async (file) => {
        const report = join(tmp, `${file.replace(/\W+/g, '-')}.json`);
        const r = await runCli(['validate', file], {
          nodeArgs: ['--import', PRELOAD],
          env: { CPLBCTL_NET_REPORT: report },
        });
        preloaded.set(file, { ...r, attempts: JSON.parse(readFileSync(report, 'utf8')) as string[] });
      }),
    );
  });

  it.each(OFFLINE_FILES)('makes no network call for %s', (file) => {
    const r = preloaded.get(file)!;
    expect(r.code, r.stderr).toBe(file.startsWith('fixtures/valid/') ? 0 : 2);
    expect(r.stderr).not.toContain('network access attempted');
    expect(r.attempts).toEqual([]);
  });

  const canUnshare = (() => {
    try {
      const script = 'console.log(Object.keys(require("os").networkInterfaces()).length)';
      return (
        execFileSync('unshare', ['-n', process.execPath, '-e', script], { encoding: 'utf8' }).trim() === '0'
      );
    } catch {
      return false;
    }
  })();

  it.skipIf(!canUnshare)('prints exactly the same in an empty network namespace (unshare -n)', async () => {
    const isolated = await Promise.all(
      OFFLINE_FILES.map((file) => runCli(['validate', file], { wrapper: ['unshare', '-n'] })),
    );
    const normal = OFFLINE_FILES.map((file) => {
      const { code, stdout, stderr } = preloaded.get(file)!;
      return { code, stdout, stderr };
    });
    expect(isolated).toEqual(normal);
    expect(normal.map((r) => r.code)).toEqual(
      OFFLINE_FILES.map((f) => (f.startsWith('fixtures/valid/') ? 0 : 2)),
    );
  });
});
