/**
 * The health check's credential files live on the controllers (the agent reads them there), so only
 * the hosts can say whether they exist and are private. One script per host, run only when the
 * cluster file names credentials; a pure parser and a pure check, like the other facts.
 */
import type { Cluster } from '../config/types.js';
import { shq } from '../contract/quote.js';
import type { HealthCheckFile } from './facts.js';

/** The credential files the cluster names, with the field each comes from. */
export function healthCheckFilesOf(cluster: Cluster): { field: string; path: string; secret: boolean }[] {
  const hc = cluster.cplb.healthCheck;
  const out: { field: string; path: string; secret: boolean }[] = [];
  if (hc.clientCertificate)
    out.push({ field: 'clientCertificate', path: hc.clientCertificate, secret: false });
  if (hc.clientKey) out.push({ field: 'clientKey', path: hc.clientKey, secret: true });
  if (hc.bearerTokenFile) out.push({ field: 'bearerTokenFile', path: hc.bearerTokenFile, secret: true });
  return out;
}

/**
 * One line per path, in order: `file MODE` (octal permission bits, symlinks followed), `other` (a
 * directory, a device), or `missing`. The path itself is never printed back, so no name can break
 * the format.
 */
export function healthFilesScript(paths: readonly string[]): string {
  const lines = paths.map(
    (p) =>
      `p=${shq(p)}; if [ -f "$p" ]; then echo "file $(stat -L -c %a -- "$p" 2>/dev/null)"; elif [ -e "$p" ]; then echo other; else echo missing; fi`,
  );
  return ['LC_ALL=C', ...lines, 'echo end'].join('\n') + '\n';
}

export function parseHealthFiles(paths: readonly string[], stdout: string): HealthCheckFile[] | undefined {
  const lines = stdout.split('\n').map((l) => l.trim());
  if (lines[paths.length] !== 'end') return undefined;
  return paths.map((path, i) => {
    const [kind, mode] = lines[i]!.split(' ');
    if (kind === 'file' && mode && /^[0-7]{1,4}$/.test(mode))
      return { path, kind: 'file', mode: parseInt(mode, 8) };
    if (kind === 'file' || kind === 'other') return { path, kind: kind === 'file' ? 'file' : 'other' };
    return { path, kind: 'missing' };
  });
}

export interface HealthFileProblem {
  message: string;
  hint: string;
}

/**
 * What is wrong with one host's files: each must exist as a regular file; the key and the token
 * are secrets, so nobody but their owner may read them (mode 0600 or 0400). The certificate is
 * public and may be 0644, as k0s writes its own.
 */
export function healthFileProblems(
  cluster: Cluster,
  files: HealthCheckFile[] | undefined,
): HealthFileProblem[] {
  const wanted = healthCheckFilesOf(cluster);
  if (wanted.length === 0) return [];
  if (!files)
    return [
      {
        message: 'could not read the health check credential files',
        hint: 'the host needs stat (coreutils or busybox); run again with --debug for the output',
      },
    ];
  const out: HealthFileProblem[] = [];
  for (const w of wanted) {
    const f = files.find((x) => x.path === w.path);
    const what = `healthCheck.${w.field} ${w.path}`;
    if (!f || f.kind === 'missing')
      out.push({
        message: `${what} does not exist`,
        hint: 'create it on this host, or fix the path in the cluster file',
      });
    else if (f.kind === 'other')
      out.push({ message: `${what} is not a regular file`, hint: 'point the field at the file itself' });
    else if (f.mode === undefined)
      out.push({
        message: `${what}: its mode could not be read`,
        hint: 'the host needs stat (coreutils or busybox)',
      });
    else if (w.secret && (f.mode & 0o077) !== 0)
      out.push({
        message: `${what} has mode ${f.mode.toString(8).padStart(4, '0')}: others may read the secret`,
        hint: `chmod 600 ${w.path} on this host`,
      });
  }
  return out;
}
