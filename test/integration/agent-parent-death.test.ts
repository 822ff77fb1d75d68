/**
 * keepalived must die with its agent: the setpriv prefix gives the child a parent-death signal. Proven
 * with a real parent process killed with -9 (and, as the negative control, without the prefix).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parentDeathPrefix } from '../../src/agent/keepalived.js';

/** A node parent that starts `sleep 60` behind `prefix`, prints the child's pid, and waits. */
async function parentWithChild(prefix: string[]): Promise<{ parent: number; child: number }> {
  const [cmd, ...args] = [...prefix, 'sleep', '60'];
  const code = `const c = require('node:child_process').spawn(${JSON.stringify(cmd)}, ${JSON.stringify(args)}, { stdio: 'ignore' }); console.log(c.pid); setInterval(() => {}, 1000);`;
  const parent = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const child = await new Promise<number>((resolve) =>
    parent.stdout.once('data', (b: Buffer) => resolve(Number(b.toString().trim()))),
  );
  return { parent: parent.pid!, child };
}

/** Gone, or a zombie waiting for init to reap it: either way it stopped running. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

async function goneWithin(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!running(pid)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return !running(pid);
}

describe('parentDeathPrefix', () => {
  it('finds util-linux setpriv with --pdeathsig, and nothing where there is none', () => {
    expect(parentDeathPrefix()).toEqual(['/usr/bin/setpriv', '--pdeathsig', 'TERM', '--']);
    expect(parentDeathPrefix(['/nonexistent/setpriv'])).toEqual([]);
  });

  it('makes the child exit when its parent is killed with -9', async () => {
    const { parent, child } = await parentWithChild(parentDeathPrefix());
    process.kill(parent, 'SIGKILL');
    expect(await goneWithin(child, 2000)).toBe(true);
  });

  it('negative control: without it the child outlives its parent', async () => {
    const { parent, child } = await parentWithChild([]);
    process.kill(parent, 'SIGKILL');
    try {
      expect(await goneWithin(child, 500)).toBe(false);
    } finally {
      process.kill(child, 'SIGKILL');
    }
  });
});
