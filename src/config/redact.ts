/**
 * A safety net under the rule that authPass is never echoed: messages are written not to quote
 * values, and this also blanks (src/core/redact.ts) any authPass text that reaches a diagnostic anyway (say, from a
 * future yaml package message). Secrets are found in the document, and by line for broken YAML.
 */
import { isPair, isScalar, visit, type Document } from 'yaml';
import { createRedactor } from '../core/redact.js';
import type { Diagnostic } from './diagnostics.js';

/** Shorter strings would blank ordinary words and numbers by coincidence, and reveal little. */
const MIN_REDACTED_LENGTH = 4;

export function authPassTexts(text: string, doc: Document): string[] {
  const found = new Set<string>();
  visit(doc, {
    Pair(_, pair) {
      if (!isPair(pair) || !isScalar(pair.key) || pair.key.value !== 'authPass' || !isScalar(pair.value))
        return;
      found.add(String(pair.value.value));
      const r = pair.value.range;
      if (r) found.add(text.slice(r[0], r[1]));
    },
  });
  for (const m of text.matchAll(/authPass["']?\s*:[ \t]*(.*)$/gm)) {
    const raw = m[1]!.trim();
    found.add(raw);
    found.add(raw.replace(/^(["'])(.*)\1$/, '$2'));
    found.add(raw.replace(/^["']/, ''));
  }
  return [...found].filter((s) => s.length >= MIN_REDACTED_LENGTH);
}

export function redactDiagnostics(diagnostics: Diagnostic[], secrets: readonly string[]): Diagnostic[] {
  const redactor = createRedactor(secrets, { wholeWordsOnly: true });
  if (!redactor.active) return diagnostics;
  return diagnostics.map((d) => ({
    ...d,
    message: redactor.text(d.message),
    hint: d.hint && redactor.text(d.hint),
  }));
}
