/**
 * Running local commands for the lab. A failed command becomes a CplbError carrying the command, its exit
 * code and the tail of stderr, so a failure in `lab up` says exactly which step broke.
 */
import { spawn } from 'node:child_process';
import { CplbError } from '../core/errors.js';

export interface RunResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  /** Resolve on a non-zero exit instead of throwing. */
  allowFailure?: boolean;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
      timeout: opts.timeoutMs,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) =>
      reject(
        new CplbError(`cannot run ${cmd}: ${e.message}`, {
          code: 'LAB_COMMAND',
          fault: 'internal',
          cause: e,
        }),
      ),
    );
    child.on('close', (code, signal) => {
      const result = {
        code,
        signal,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
      };
      if (code === 0 || opts.allowFailure) return resolve(result);
      const tail = result.stderr.trim().split('\n').slice(-3).join(' | ');
      reject(
        new CplbError(`${[cmd, ...args].join(' ')} failed (${signal ?? `exit ${code}`}): ${tail}`, {
          code: 'LAB_COMMAND',
          fault: 'internal',
        }),
      );
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** `ip -batch -` in one process: one fork for dozens of link/addr/route changes. */
export async function ipBatch(lines: readonly string[], netns?: string): Promise<void> {
  if (lines.length === 0) return;
  const args = netns ? ['-n', netns, '-batch', '-'] : ['-batch', '-'];
  await run('ip', args, { input: lines.join('\n') + '\n' });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns true or the deadline passes. */
export async function waitFor(
  what: string,
  timeoutMs: number,
  probe: () => Promise<boolean> | boolean,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delay = 10;
  while (!(await probe())) {
    if (Date.now() > deadline) {
      throw new CplbError(`timed out after ${timeoutMs} ms waiting for ${what}`, {
        code: 'LAB_TIMEOUT',
        fault: 'internal',
      });
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 200);
  }
}
