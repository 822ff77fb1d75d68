/**
 * What the failover benchmarks share: running the CLI as a user does, and the fast profile's cluster
 * file (VRRPv3, 0.1 s adverts) made from the lab's own.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { LabInfo } from '../src/lab/index.js';

const exec = promisify(execFile);

/** `node bin/cplbctl.js ARGS`: its exit code and stdout (a failing command still prints its document). */
export async function cli(args: string[]): Promise<{ code: number; stdout: string }> {
  try {
    const { stdout } = await exec('node', ['bin/cplbctl.js', ...args], {
      maxBuffer: 64 << 20,
      timeout: 3_600_000,
    });
    return { code: 0, stdout };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    if (!e.stdout) throw new Error(`cplbctl ${args[0]} failed: ${e.stderr ?? String(err)}`);
    return { code: e.code ?? 1, stdout: e.stdout };
  }
}

/** The lab's cluster file with VRRPv3 and 0.1 s adverts, written to DIR/fast.yaml. */
export function fastVariant(lab: LabInfo, dir: string): string {
  const file = join(dir, 'fast.yaml');
  const text = readFileSync(lab.clusterFile, 'utf8')
    .replace(/^ {4}keepalived:$/m, '    keepalived:\n      vrrpVersion: 3')
    .replace(/^( {10}authPass: .*)$/m, '$1\n          advertIntervalSeconds: 0.1');
  writeFileSync(file, text);
  return file;
}

/** The cluster file of a profile: `default` is the lab's own, `fast` its VRRPv3 0.1 s variant. */
export function profileFile(lab: LabInfo, profile: string, dir: string): string {
  if (profile === 'default') return lab.clusterFile;
  if (profile === 'fast') return fastVariant(lab, dir);
  throw new Error(`unknown profile ${profile} (default or fast)`);
}
