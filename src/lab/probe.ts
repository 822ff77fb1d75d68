/** Readiness checks from the root namespace: the lab's addresses are routed there while it is up. */
import { connect } from 'node:net';
import { readFile } from 'node:fs/promises';
import { CplbError } from '../core/errors.js';
import { isAlive } from './procs.js';
import { sleep } from './run.js';

export function tcpOpen(address: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function logTail(path: string): Promise<string> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text.trim().split('\n').slice(-5).join(' | ');
}

/** Waits until every port answers; fails at once (with the host's log) if the host's process died. */
export async function waitForHost(
  hostName: string,
  address: string,
  ports: readonly number[],
  pid: number,
  logPath: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(ports);
  let delay = 5;
  while (pending.size > 0) {
    for (const port of [...pending]) if (await tcpOpen(address, port, 300)) pending.delete(port);
    if (pending.size === 0) return;
    if (!(await isAlive(pid))) {
      throw new CplbError(`lab host ${hostName} died while starting: ${await logTail(logPath)}`, {
        code: 'LAB_HOST_START',
        fault: 'internal',
        host: hostName,
      });
    }
    if (Date.now() > deadline) {
      throw new CplbError(
        `lab host ${hostName}: port ${[...pending].join(', ')} not answering after ${timeoutMs} ms`,
        {
          code: 'LAB_HOST_START',
          fault: 'internal',
          host: hostName,
          hint: `see ${logPath}`,
        },
      );
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 100);
  }
}
