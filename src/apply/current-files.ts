import { randomBytes } from 'node:crypto';
import type { HostPlan } from '../plan/plan.js';
import type { Remote } from '../ssh/remote.js';
import { shq } from '../contract/quote.js';
import { PATH_LINE } from '../contract/script.js';
import { CplbError } from '../core/errors.js';
import { compareVersions } from '../plan/validate-facts.js';

/** Beside an uploaded agent build: its sha256, and the size, inode and ctime it had then. */
export const hashStampPath = (path: string) => `${path}.sha256`;

/** `size inode ctime` (ctime to the ns where stat shows it): any write or replacement changes one; ctime cannot be set back. */
const statKey = (p: string) => `stat -c '%s %i %z' ${p}`;

/**
 * Hashing an 80 MB agent build costs a host about 0.3 s of CPU on every run; the stamp written at
 * upload stands in for it while the file's size, inode and ctime are still the ones it recorded.
 */
function agentHashScript(path: string): string {
  const p = shq(path);
  const stamp = shq(hashStampPath(path));
  return `if [ "$(sed -n 2p ${stamp} 2>/dev/null)" = "$(${statKey(p)})" ]; then sed -n 1p ${stamp}; else sha256sum ${p} | cut -d' ' -f1; fi`;
}

/** Records the build's sha256 for agentHashScript; run right after the upload. */
export function writeHashStampScript(path: string, sha256: string): string {
  const stamp = shq(hashStampPath(path));
  return `{ echo ${shq(sha256)}; ${statKey(shq(path))}; } > ${stamp}.tmp && mv -f ${stamp}.tmp ${stamp}`;
}

/** What keepalived said of a rendered keepalived.conf on the host itself. */
export type ConfigTest =
  | { result: 'unchanged' }
  | { result: 'no-keepalived' }
  | { result: 'passed' }
  | { result: 'failed'; output: string; version: string };

/**
 * Shell that checks the keepalived.conf in "$t" with the host's keepalived, unless it is the file
 * already at `current` (checked when it was written). keepalived's version is asked only on failure,
 * where it explains the error (track_file needs 2.1); starting keepalived is the costliest thing the
 * plan does on a host.
 */
function configTestScript(mark: string, current?: string): string {
  const same = current ? `[ -f ${shq(current)} ] && cmp -s "$t" ${shq(current)}` : 'false';
  return [
    `if ${same}; then echo '${mark}unchanged'`,
    `elif ! command -v keepalived >/dev/null 2>&1; then echo '${mark}no-keepalived'`,
    `else o=$(keepalived --config-test -f "$t" 2>&1); rc=$?`,
    `  if [ $rc = 0 ]; then echo '${mark}passed'`,
    `  else echo '${mark}failed'; printf '%s\\n' "$o"; echo '${mark}version'; keepalived --version 2>&1; fi`,
    `fi`,
  ].join('\n');
}

/**
 * keepalived skips /dev/stdin as "not a regular file" (and a skipped file passes): a temp file it is.
 * PATH as the facts scripts set it: a non-login shell or sudo may leave the sbin dirs out, and a
 * keepalived not found would skip its test.
 */
const STDIN_TO_TEMP = [
  PATH_LINE,
  't=$(mktemp /tmp/cplb-keepalived.XXXXXX) || exit 1',
  `trap 'rm -f "$t"' EXIT`,
  'cat > "$t"',
].join('\n');

function parseConfigTest(parts: string[]): ConfigTest {
  const [head = '', version = ''] = parts;
  if (head.startsWith('unchanged')) return { result: 'unchanged' };
  if (head.startsWith('no-keepalived')) return { result: 'no-keepalived' };
  if (head.startsWith('passed')) return { result: 'passed' };
  return {
    result: 'failed',
    output: head.slice('failed\n'.length).trimEnd(),
    version: version.replace(/^version\n/, '').trim(),
  };
}

/** Checks a rendered keepalived.conf on a host (after keepalived was installed, say). */
export async function testKeepalivedConfig(remote: Remote, conf: string): Promise<ConfigTest> {
  const mark = `@@cplb-${randomBytes(8).toString('hex')}@@`;
  const res = await remote.exec(`${STDIN_TO_TEMP}\n${configTestScript(mark)}`, {
    stdin: conf,
    timeoutMs: 20_000,
  });
  return parseConfigTest(res.stdout.split(mark).slice(1));
}

/**
 * What is on the host now for every planned path, in one round trip: the text of rendered files,
 * the sha256 of the agent build, null when absent. A random marker separates the files, so no
 * file content can fake a boundary. Given the rendered keepalived.conf, the same round trip has the
 * host's keepalived check it where it differs from the host's.
 */
export interface FileMeta {
  /** Octal, as stat prints it: `600`. */
  mode: string;
  owner: string;
  group: string;
}

export async function readCurrentFiles(
  remote: Remote,
  host: Pick<HostPlan, 'files'> & Partial<Pick<HostPlan, 'directories'>>,
  keepalivedConf?: { path: string; content: string },
): Promise<{ files: Map<string, string | null>; meta: Map<string, FileMeta>; configTest?: ConfigTest }> {
  const mark = `@@cplb-${randomBytes(8).toString('hex')}@@`;
  const reads = host.files.map((f) => {
    const p = shq(f.path);
    const body = f.content === undefined ? agentHashScript(f.path) : `cat ${p}`;
    return `if [ -f ${p} ]; then echo '${mark}present'; ${body}; else echo '${mark}absent'; fi`;
  });
  // Mode and owner of every planned path in one process, so Write can skip what is already right.
  const paths = [...host.files.map((f) => f.path), ...(host.directories ?? []).map((d) => d.path)];
  // Only the paths that exist: on a fresh host none does, and no stat process starts.
  const meta = [
    `echo '${mark}meta'; set --`,
    `for p in ${paths.map(shq).join(' ')}; do [ -e "$p" ] && set -- "$@" "$p"; done`,
    `[ $# = 0 ] || stat -c '%a %U %G %n' -- "$@" 2>/dev/null; true`,
  ].join('\n');
  const script = keepalivedConf
    ? [STDIN_TO_TEMP, ...reads, meta, configTestScript(mark, keepalivedConf.path)]
    : [...reads, meta];
  const res = await remote.exec(script.join('\n'), {
    timeoutMs: 20_000,
    ...(keepalivedConf ? { stdin: keepalivedConf.content } : {}),
  });
  const parts = res.stdout.split(mark).slice(1);
  const files = new Map<string, string | null>();
  host.files.forEach((f, i) => {
    const part = parts[i] ?? 'absent';
    if (part.startsWith('absent')) files.set(f.path, null);
    else {
      const body = part.slice('present\n'.length);
      files.set(f.path, f.content === undefined ? body.trim() : body);
    }
  });
  const metaOf = new Map<string, FileMeta>();
  for (const line of (parts[host.files.length] ?? '').split('\n').slice(1)) {
    const m = /^([0-7]+) (\S+) (\S+) (\/.*)$/.exec(line);
    if (m) metaOf.set(m[4]!, { mode: m[1]!, owner: m[2]!, group: m[3]! });
  }
  if (!keepalivedConf) return { files, meta: metaOf };
  return { files, meta: metaOf, configTest: parseConfigTest(parts.slice(host.files.length + 1)) };
}

/** Checks the rendered keepalived.conf where the plan could not (keepalived was just installed). */
export async function keepalivedConfigTest(remote: Remote, conf: string, host: string): Promise<void> {
  const test = await testKeepalivedConfig(remote, conf);
  if (test.result === 'failed') throw configTestError(host, test);
}

export function configTestError(host: string, test: Extract<ConfigTest, { result: 'failed' }>): CplbError {
  const version = /^Keepalived v(\S+)/.exec(test.version)?.[1];
  const old = version !== undefined && compareVersions(version, '2.1.0') < 0;
  return new CplbError(
    `keepalived --config-test rejected the rendered keepalived.conf:\n${test.output}`.trimEnd(),
    {
      code: 'KEEPALIVED_CONFIG_TEST',
      fault: 'config',
      host,
      hint: old
        ? `keepalived ${version} on this host predates 2.1, which cplb needs (track_file): upgrade keepalived; nothing was changed on the hosts`
        : `nothing was changed on the hosts; the lines above name what keepalived${version ? ` ${version}` : ''} refuses`,
    },
  );
}
