/**
 * Ctrl-C in the middle of a real apply: the run stops, cleanups release every host's lock, the exit
 * code is 130, and the next apply completes what the first one started.
 */
import { spawn } from 'node:child_process';
import { expect, it } from 'vitest';
import { labExec } from '../../src/lab/index.js';
import { applyArgs, cli, useLab } from './apply-support.js';

const LAB = 't-cancel';
const lab = useLab(LAB);

function applyUntil(marker: string): Promise<{ code: number | null; stdout: string; signalledAt: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn('node', ['bin/cplbctl.js', ...applyArgs(lab())], {
      env: { ...process.env, XDG_CACHE_HOME: '/tmp/cplbctl-test-cache' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let signalled = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (!signalled && stdout.includes(marker)) {
        signalled = true;
        child.kill('SIGINT');
      }
    });
    child.stderr.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, signalledAt: signalled });
    });
  });
}

it('exits 130 on SIGINT mid-apply, releases every lock, and a re-run completes', async () => {
  const run = await applyUntil('==> Running phase: Upload the node agent');
  expect(run.signalledAt).toBe(true);
  expect(run.code).toBe(130);
  expect(run.stdout).toMatch(/cancel/i);
  for (const h of lab().hosts.filter((x) => x.role === 'controller')) {
    const ls = await labExec(LAB, h.name, ['sh', '-c', 'ls -d /run/cplb-lock/owner 2>&1 || true']);
    expect(ls.stdout).toContain('No such file');
  }
  const again = await cli(applyArgs(lab()));
  expect(again.stdout).toMatch(/holds \S+ \(k0s-vip-0\)/);
  expect(again.code).toBe(0);
}, 120_000);
