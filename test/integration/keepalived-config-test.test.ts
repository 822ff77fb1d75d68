/**
 * The real `keepalived --config-test` (2.2.7 here) on every golden keepalived.conf and on generated
 * ones. config-test insists that named interfaces exist, so it runs inside a throwaway network
 * namespace that has veths called eth0 and eth1 (this kernel has no `dummy` links). Any output at
 * all counts as failure: keepalived reports silent fix-ups (truncated auth_pass, rounded adverts)
 * as warnings and exits 5. The negative controls prove those warnings are caught.
 * Needs root, iproute2 and keepalived (CI installs them).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderKeepalivedConf, type KeepalivedInstance } from '../../src/render/keepalived.js';

const run = promisify(execFile);
const NETNS = `cplb-tplan-kt${process.pid}`;
const GOLDEN = join(import.meta.dirname, '../../fixtures/golden');
const goldens = readdirSync(GOLDEN)
  .filter((f) => /^keepalived-.*\.conf$/.test(f))
  .sort();
let dir: string;

async function ip(...args: string[]): Promise<void> {
  await run('ip', args);
}

/** keepalived's exit code and everything it printed. */
async function configTest(file: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run('ip', [
      'netns',
      'exec',
      NETNS,
      'keepalived',
      '--config-test',
      '-f',
      file,
    ]);
    return { code: 0, output: (stdout + stderr).trim() };
  } catch (err) {
    const e = err as { code?: number; signal?: string; stdout?: string; stderr?: string };
    return { code: e.code ?? (e.signal ? 128 : -1), output: `${e.stdout ?? ''}${e.stderr ?? ''}`.trim() };
  }
}

async function configTestText(name: string, text: string) {
  const file = join(dir, name);
  writeFileSync(file, text);
  return configTest(file);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cplb-kt-'));
  await run('ip', ['netns', 'del', NETNS]).catch(() => undefined);
  await ip('netns', 'add', NETNS);
  await ip('-n', NETNS, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'p0');
  await ip('-n', NETNS, 'link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'p1');
});

afterAll(async () => {
  await run('ip', ['netns', 'del', NETNS]).catch(() => undefined);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('keepalived --config-test on the golden files', () => {
  it('finds the goldens', () => {
    expect(goldens.length).toBeGreaterThanOrEqual(7);
  });

  it.each(goldens)('%s passes with no output at all', async (name) => {
    expect(await configTest(join(GOLDEN, name))).toEqual({ code: 0, output: '' });
  });
});

describe('negative controls: the check does fail', () => {
  const multicast = () => readFileSync(join(GOLDEN, 'keepalived-multicast.conf'), 'utf8');

  it('an auth_pass of 9 characters is truncated with a warning', async () => {
    const r = await configTestText(
      'long-pass.conf',
      multicast().replace(/auth_pass \S+/, 'auth_pass 123456789'),
    );
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/Truncating auth_pass to 8 characters/);
  });

  it('an unknown keyword', async () => {
    const r = await configTestText(
      'bad-keyword.conf',
      multicast().replace('priority 200', 'priority 200\n  bogus_keyword 1'),
    );
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/Unknown keyword 'bogus_keyword'/);
  });

  it('a sub-second advert_int without vrrp_version 3 is rounded', async () => {
    const v3 = readFileSync(join(GOLDEN, 'keepalived-v3-fast.conf'), 'utf8');
    const r = await configTestText('v2-fast.conf', v3.replace(/\n\s*vrrp_version 3/, ''));
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/must be an integer/);
  });

  it('an IPv6 VIP in an IPv4 instance is ignored', async () => {
    const r = await configTestText(
      'mixed.conf',
      multicast().replace(/(\d+\.\d+\.\d+\.\d+\/24 dev eth1)/, '$1\n    fd5e:1::100/64 dev eth1'),
    );
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/address family must match/);
  });

  it('nopreempt with state MASTER is cleared', async () => {
    const r = await configTestText(
      'master.conf',
      multicast().replace('state BACKUP', 'state MASTER\n  nopreempt'),
    );
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/nopreempt will not work/);
  });

  it('authentication under VRRP v3 is ignored', async () => {
    const v3 = readFileSync(join(GOLDEN, 'keepalived-v3-fast.conf'), 'utf8');
    const r = await configTestText(
      'v3-auth.conf',
      v3.replace(
        'advert_int 0.1',
        'advert_int 0.1\n  authentication {\n    auth_type PASS\n    auth_pass x\n  }',
      ),
    );
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/does not support authentication/);
  });

  it('an interface the host lacks', async () => {
    const r = await configTestText('no-nic.conf', multicast().replaceAll('eth1', 'eth9'));
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/interface eth9 .* doesn't exist/);
  });
});

describe('generated configs pass too', () => {
  const octet = fc.integer({ min: 2, max: 250 });
  const instance = (i: number, version: 2 | 3) =>
    fc
      .record({
        family: fc.constantFrom<4 | 6>(4, 6),
        iface: fc.constantFrom('eth0', 'eth1'),
        advert: version === 3 ? fc.constantFrom(0.05, 0.1, 0.5, 1, 2.5) : fc.integer({ min: 1, max: 10 }),
        pass: fc.stringMatching(/^[A-Za-z0-9.:@%+-]{1,8}$/),
        unicast: fc.boolean(),
        hosts: fc.uniqueArray(octet, { minLength: 2, maxLength: 4 }),
        vipCount: fc.integer({ min: 1, max: 3 }),
      })
      .map((r): KeepalivedInstance => {
        const addr = (n: number) =>
          r.family === 4 ? `198.18.${i}.${n}` : `fd5e:${i + 1}::${n.toString(16)}`;
        const [source, ...peers] = r.hosts.map(addr);
        const inst: KeepalivedInstance = {
          name: `k0s-vip-${i}`,
          interface: r.iface,
          family: r.family,
          virtualRouterID: 51 + i,
          advertIntervalSeconds: r.advert,
          authPass: r.pass,
          vips: Array.from({ length: r.vipCount }, (_, j) => `${addr(251 + j)}/${r.family === 4 ? 24 : 64}`),
        };
        if (r.unicast) inst.unicast = { source: source!, peers };
        return inst;
      });
  const config = fc.constantFrom<2 | 3>(2, 3).chain((version) =>
    fc.record({
      version: fc.constant(version),
      instances: fc
        .integer({ min: 1, max: 3 })
        .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => instance(i, version)))),
    }),
  );

  it('every rendered combination of families, versions, unicast and adverts', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(config, async ({ version, instances }) => {
        const text = renderKeepalivedConf({
          routerId: 'ctl1',
          vrrpVersion: version,
          instances,
          virtualServers: [],
        });
        const r = await configTestText(`gen-${n++}.conf`, text);
        expect(r, text).toEqual({ code: 0, output: '' });
      }),
      { numRuns: 40 },
    );
  });
});
