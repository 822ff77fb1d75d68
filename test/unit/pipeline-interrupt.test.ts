import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// A real process and a real signal: Ctrl-C must reach the phase, run cleanups and exit 130.
const dir = mkdtempSync(join(tmpdir(), 'cplbctl-interrupt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const script = (ignoreSignal: boolean) => `
import { abortOnInterrupt, createReporters, runPipeline } from ${JSON.stringify(resolve('src/pipeline/index.ts'))};
const interrupt = abortOnInterrupt();
const { reporters } = createReporters({ output: 'logfmt', logFile: false });
const wait = (ctx) => new Promise((_resolve, reject) => {
  const socket = setInterval(() => {}, 1000); // stands in for an open SSH connection
  console.log('READY');
  if (!${ignoreSignal}) ctx.signal.addEventListener('abort', () => { clearInterval(socket); reject(new Error('aborted')); });
});
try {
  await runPipeline({
    hosts: [{ name: 'h:22' }], state: {}, reporters, signal: interrupt.signal, abortGraceMs: 60_000,
    phases: [{ title: 'Wait', run: wait, cleanup: async (ctx) => ctx.log.info('cleaned up') }],
  });
} catch (err) {
  process.exitCode = err.exitCode;
} finally {
  interrupt.dispose();
}
`;

function runAndInterrupt(ignoreSignal: boolean, signals: NodeJS.Signals[]) {
  const file = join(dir, `run-${ignoreSignal}.mjs`);
  writeFileSync(file, script(ignoreSignal));
  const child = spawn(process.execPath, ['--import', 'tsx', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise<{ code: number | null; out: string }>((done) => {
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('READY') && signals.length) {
        // Spaced out: two identical signals sent at once may be delivered as one.
        signals.splice(0).forEach((signal, i) => setTimeout(() => child.kill(signal), i * 200));
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const guard = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('exit', (code) => {
      clearTimeout(guard);
      done({ code, out });
    });
  });
}

describe('abortOnInterrupt', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)('%s cancels: cleanups run, exit code 130', async (signal) => {
    const { code, out } = await runAndInterrupt(false, [signal]);
    expect(out).toContain('level=info msg="cleaned up"');
    expect(out).toMatch(/level=error msg="==> Cancelled after [\d.]+m?s"/);
    expect(code).toBe(130);
  });

  it('a second Ctrl-C exits at once even when a phase ignores the first', async () => {
    const started = performance.now();
    const { code } = await runAndInterrupt(true, ['SIGINT', 'SIGINT']);
    expect(code).toBe(130);
    expect(performance.now() - started).toBeLessThan(10_000); // not the 60 s grace
  });
});
