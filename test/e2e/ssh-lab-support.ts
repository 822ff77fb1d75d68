/** Helpers for the SSH-on-the-lab tests: a private ssh-agent, env overrides, hostile strings. */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface Agent {
  pid: number;
  sock: string;
  stop(): Promise<void>;
}

/** `ssh-agent -D` as our own child (killed by its PID), holding `keyPath`. */
export async function startAgent(dir: string, keyPath: string): Promise<Agent> {
  const sock = join(dir, 'agent.sock');
  const child = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  try {
    for (let i = 0; !existsSync(sock); i++) {
      if (i > 100 || child.exitCode !== null) throw new Error('ssh-agent did not create its socket');
      await new Promise((r) => setTimeout(r, 20));
    }
    await execFileAsync('ssh-add', ['-q', keyPath], { env: { ...process.env, SSH_AUTH_SOCK: sock } });
  } catch (err) {
    await stop();
    throw err;
  }
  return { pid: child.pid ?? -1, sock, stop };
}

/** Runs `fn` with some environment variables set (undefined: removed), then puts them back. */
export async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (v: Record<string, string | undefined>) => {
    for (const [k, val] of Object.entries(v)) {
      if (val === undefined) delete process.env[k];
      else process.env[k] = val;
    }
  };
  apply(vars);
  try {
    return await fn();
  } finally {
    apply(saved);
  }
}

/** Strings every quoting layer has got wrong somewhere. */
export const HOSTILE_STRINGS: readonly string[] = [
  "'",
  '"',
  '\\',
  "'\\''",
  '$(id -u)',
  '`id -u`',
  '${HOME}',
  "'; echo pwned; '",
  '"; echo pwned; "',
  'a\nb\r\nc\n',
  '\t-x',
  '-n',
  '--',
  '%s%d%%\\n',
  '* ? [a-z]',
  '~root',
  '!! !$',
  'é ü 漢字 🙂',
  '\x01\x1b[31m\x7f',
  '  leading and trailing  ',
  'sudo -n sh -c \'echo "nested"\'',
  'x'.repeat(20_000),
];

/** A copy of the lab's cluster file without pinned host keys, so known_hosts decides. */
export async function clusterWithoutHostKeys(clusterFile: string, dir: string): Promise<string> {
  const text = await readFile(clusterFile, 'utf8');
  const path = join(dir, 'cluster.yaml');
  await writeFile(
    path,
    text
      .split('\n')
      .filter((l) => !/^\s*hostKey:/.test(l))
      .join('\n'),
  );
  return path;
}
