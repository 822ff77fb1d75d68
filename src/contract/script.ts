/**
 * The shape of every script cplbctl sends to a host: POSIX sh (dash, busybox ash) that prints marked
 * sections, so one round trip answers many questions and a missing tool only empties its section.
 * Facts, status and verify all speak it; reset and the probes only take its PATH.
 */

/** The sbin dirs first: `sudo -n` or a non-login shell may leave them out, and then a tool "is missing". */
export const SCRIPT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** One line that puts SCRIPT_PATH ahead of the host's own PATH. */
export const PATH_LINE = `PATH=${SCRIPT_PATH}:$PATH; export PATH`;

/** Starts every section's marker line: `@@cplb:NAME [ARGS...]`. */
export const SECTION_MARK = '@@cplb:';

/** What every marked-section script starts with: PATH, the C locale (stable tool output) and `m NAME`. */
export const SCRIPT_HEAD = `PATH=${SCRIPT_PATH}:$PATH
LC_ALL=C
export PATH LC_ALL
m() { echo "${SECTION_MARK}$*"; }
`;

export interface Section {
  name: string;
  /** Words after the name on the marker line, e.g. a timestamp. */
  args: string[];
  body: string;
}

/** The output split at marker lines, in order (a name may repeat, e.g. one section per sample). */
export function sections(stdout: string): Section[] {
  const out: Section[] = [];
  let current: Section | undefined;
  let lines: string[] = [];
  const flush = () => {
    if (current) out.push({ ...current, body: lines.join('\n').trim() });
  };
  for (const line of stdout.split('\n')) {
    if (line.startsWith(SECTION_MARK)) {
      flush();
      const [name = '', ...args] = line.slice(SECTION_MARK.length).trim().split(/\s+/);
      current = { name, args, body: '' };
      lines = [];
    } else lines.push(line);
  }
  flush();
  return out;
}

/** Each section's body by name (the last one, where a name repeats). */
export function sectionMap(stdout: string): Map<string, string> {
  return new Map(sections(stdout).map((s) => [s.name, s.body]));
}

export function sectionBody(list: readonly Section[], name: string): string | undefined {
  return list.find((s) => s.name === name)?.body;
}
