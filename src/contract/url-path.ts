/**
 * A health check path as an HTTP request target (origin form): RFC 3986 path and query characters,
 * percent-escapes, nothing else. Node's https.request throws on control bytes and characters outside
 * latin1, and a server reads spaces, `#` or a bare `%` its own way: all are refused before any host.
 * Shared by the config rules and the agent's schema (a leaf: imports nothing).
 */
const ALLOWED = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/?]$/;

export interface UrlPathProblem {
  /** What is wrong, after the path itself: `holds ... at character 7, ...`. */
  message: string;
  hint: string;
}

export function urlPathProblem(path: string): UrlPathProblem | undefined {
  if (!path.startsWith('/')) return { message: 'does not start with /', hint: 'write it like /readyz' };
  const chars = [...path];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    const at = i + 1;
    if (c === '%') {
      if (/^%[0-9A-Fa-f]{2}/.test(chars.slice(i, i + 3).join(''))) continue;
      return {
        message: `holds "%" not followed by two hex digits at character ${at}`,
        hint: 'write a literal % as %25',
      };
    }
    if (ALLOWED.test(c)) continue;
    const code = c.codePointAt(0)!;
    const name = `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
    const shown = code < 0x20 || code === 0x7f ? `${name} (a control character)` : `"${c}" (${name})`;
    const escaped = [...Buffer.from(c, 'utf8')].map(
      (b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
    );
    return {
      message: `holds ${shown} at character ${at}, which a URL path cannot hold`,
      hint:
        c === '#'
          ? 'a fragment is never sent to the server: remove it'
          : `percent-encode it (${escaped.join('')}) or remove it`,
    };
  }
  return undefined;
}

export const isUrlPath = (path: string): boolean => urlPathProblem(path) === undefined;
