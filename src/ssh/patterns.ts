/** OpenSSH-style host patterns (`*`, `?`, `!negation`), shared by ssh_config and known_hosts. */

export function matchWildcard(pattern: string, text: string): boolean {
  // Iterative glob with backtracking on the last `*`: linear enough for host names.
  let p = 0;
  let t = 0;
  let starP = -1;
  let starT = 0;
  while (t < text.length) {
    const pc = pattern[p];
    if (pc === '*') {
      starP = p++;
      starT = t;
    } else if (pc !== undefined && (pc === '?' || pc === text[t])) {
      p++;
      t++;
    } else if (starP >= 0) {
      p = starP + 1;
      t = ++starT;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}

/**
 * True when some pattern matches and no negated one does (a negation only ever excludes).
 * Host names compare case-insensitively, as in OpenSSH.
 */
export function matchPatternList(patterns: readonly string[], host: string): boolean {
  const name = host.toLowerCase();
  let matched = false;
  for (const raw of patterns) {
    const negated = raw.startsWith('!');
    const pattern = (negated ? raw.slice(1) : raw).toLowerCase();
    if (!matchWildcard(pattern, name)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}
