/**
 * The one place secrets (VRRP authPass values, key passphrases...) become [REDACTED]: in every event
 * before any reporter or the debug log sees it, in config diagnostics, and in the file diffs a plan
 * prints. Secrets also show up escaped: inside a JSON string (an error that quotes a config) and
 * inside a POSIX single-quoted shell argument (a failed command line), so those spellings are
 * redacted too.
 */

export const REDACTED = '[REDACTED]';

/**
 * authPass may be as short as one character; replacing every "a" in every message would make logs
 * unreadable, so secrets shorter than this are only redacted where they stand as a whole word.
 */
const MIN_SUBSTRING_SECRET = 4;

export interface Redactor {
  /** False when there is nothing to redact (lets the runner skip the work). */
  readonly active: boolean;
  text(value: string): string;
  /** A copy of a value (an event, a diagnostic) with every string in it redacted (the same object when nothing matched). */
  deep<T>(value: T): T;
}

export interface RedactOptions {
  /**
   * Blank secrets only where they stand as a whole word, whatever their length. Config diagnostics
   * use it: their secrets include fragments of a broken line, which could match inside field names.
   */
  wholeWordsOnly?: boolean;
}

export function createRedactor(
  secrets: Iterable<string | undefined | null>,
  opts: RedactOptions = {},
): Redactor {
  const pattern = buildPattern(secrets, opts.wholeWordsOnly ?? false);
  if (!pattern) return { active: false, text: (value) => value, deep: (value) => value };
  const text = (value: string): string => {
    pattern.lastIndex = 0;
    return pattern.test(value) ? value.replace(pattern, REDACTED) : value;
  };
  return { active: true, text, deep: (value) => redactDeep(value, text) };
}

function buildPattern(
  secrets: Iterable<string | undefined | null>,
  wholeWordsOnly: boolean,
): RegExp | undefined {
  const spellings = new Map<string, boolean>(); // spelling -> whole word only
  for (const secret of secrets) {
    if (!secret) continue;
    const wholeWord = wholeWordsOnly || secret.length < MIN_SUBSTRING_SECRET;
    for (const spelling of [secret, JSON.stringify(secret).slice(1, -1), secret.replaceAll("'", `'\\''`)]) {
      spellings.set(spelling, (spellings.get(spelling) ?? true) && wholeWord);
    }
  }
  if (spellings.size === 0) return undefined;
  // Longest first, so a secret that contains another is replaced as a whole.
  const alternatives = [...spellings]
    .sort(([a], [b]) => b.length - a.length)
    .map(([spelling, wholeWord]) => {
      const escaped = escapeRegExp(spelling);
      return wholeWord ? `(?<![A-Za-z0-9])${escaped}(?![A-Za-z0-9])` : escaped;
    });
  return new RegExp(alternatives.join('|'), 'g');
}

function escapeRegExp(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function redactDeep<T>(value: T, text: (s: string) => string): T {
  if (typeof value === 'string') return text(value) as T;
  if (Array.isArray(value)) {
    let changed = false;
    const out = value.map((item: unknown) => {
      const redacted = redactDeep(item, text);
      if (redacted !== item) changed = true;
      return redacted;
    });
    return (changed ? out : value) as T;
  }
  if (value !== null && typeof value === 'object') {
    let out: Record<string, unknown> | undefined;
    for (const [key, item] of Object.entries(value)) {
      const redacted = redactDeep(item, text);
      if (redacted !== item) (out ??= { ...(value as Record<string, unknown>) })[key] = redacted;
    }
    return (out ?? value) as T;
  }
  return value;
}

/**
 * A rendered file as a plan's diff may print it: keepalived's auth_pass and the agent config's
 * authPass values blanked, whatever they are (the plan shows that they change, never to what).
 */
export function redactFileSecrets(text: string): string {
  return text
    .replace(/^(\s*auth_pass\s+)\S+/gm, `$1${REDACTED}`)
    .replace(/("authPass"\s*:\s*)"(?:[^"\\]|\\.)*"/g, `$1"${REDACTED}"`);
}
