/**
 * logfmt, as k0sctl (logrus) prints it: `level=info msg="..." key=value`. One encoder for the CLI's
 * output and the agent's log, so a log shipper parses both alike.
 */

export type LogfmtValue = string | number | boolean | null | undefined;

// logrus quotes any value with a character outside this set (so `msg` is almost always quoted).
const BARE_VALUE = /^[A-Za-z0-9\-._/@^+]+$/;

export function formatLogfmtValue(value: LogfmtValue): string {
  const text = value === null || value === undefined ? '' : String(value);
  // JSON string escaping is Go's %q for our purposes: \" \\ \n \t and \u00XX for other control bytes
  // (which also keeps a remote's ANSI escapes from reaching the terminal raw).
  return BARE_VALUE.test(text) ? text : JSON.stringify(text);
}

/** Keys come from phase data: keep them to characters that never need quoting. */
function formatKey(key: string): string {
  return key.replace(/[^A-Za-z0-9\-._]/g, '_') || '_';
}

export function formatLogfmt(pairs: Iterable<readonly [string, LogfmtValue]>): string {
  const parts: string[] = [];
  for (const [key, value] of pairs) parts.push(`${formatKey(key)}=${formatLogfmtValue(value)}`);
  return parts.join(' ');
}
