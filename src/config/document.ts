/** YAML parsing that keeps positions, so every problem can name its line and column. */
import { isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node } from 'yaml';
import type { DocPath } from './types.js';

export interface Position {
  line: number;
  col: number;
}

export interface ParsedDocument {
  doc: Document;
  data: unknown;
  lines: LineCounter;
  syntaxErrors: { message: string; hint: string; pos: Position; path: DocPath }[];
}

export function parseYaml(text: string): ParsedDocument {
  const lines = new LineCounter();
  // prettyErrors off: its messages quote the offending source line, which may hold authPass.
  const doc = parseDocument(text, {
    lineCounter: lines,
    prettyErrors: false,
    uniqueKeys: true,
    strict: true,
  });
  const syntaxErrors = doc.errors.map((e) => ({
    ...describeYamlError(e.code, e.message),
    pos: toPosition(lines, e.pos[0]),
    path: pathAtOffset(doc, e.pos[0]),
  }));
  if (syntaxErrors.length) return { doc, data: undefined, lines, syntaxErrors };
  try {
    return { doc, data: doc.toJS({ maxAliasCount: 100 }), lines, syntaxErrors };
  } catch (err) {
    // toJS throws on an alias without an anchor (its message names the alias, which may be a secret).
    const offset = firstBadAlias(doc) ?? 0;
    const aliasBomb = /Excessive alias count/.test(String((err as Error).message));
    syntaxErrors.push({
      message: aliasBomb
        ? 'YAML aliases expand too much'
        : 'YAML alias (*name) refers to an anchor that is not defined before it',
      hint: aliasBomb
        ? 'write the values out instead of nesting aliases'
        : 'define the anchor (&name) earlier in the file, or write the value out',
      pos: toPosition(lines, offset),
      path: pathAtOffset(doc, offset),
    });
    return { doc, data: undefined, lines, syntaxErrors };
  }
}

function firstBadAlias(doc: Document): number | undefined {
  let offset: number | undefined;
  visit(doc, {
    Alias(_, node) {
      if (offset === undefined && !node.resolve(doc)) offset = node.range?.[0];
    },
  });
  return offset;
}

/**
 * The yaml package's messages, minus any source text they quote (a token, a tag, an escape),
 * since that text may be authPass.
 */
const LEAKY_MESSAGES: [RegExp, string][] = [
  [/^Not a YAML token\b.*/s, 'text that is not a YAML token'],
  [
    /^Block scalar header includes extra characters\b.*/s,
    'a block scalar header (| or >) followed by text on the same line',
  ],
  [
    /^Plain value cannot start with\b.*/s,
    'a plain value cannot start with a reserved character (@, `, %, |, >)',
  ],
  [/^Invalid escape sequence\b.*/s, 'an invalid escape sequence in a double-quoted string'],
  [/^(Unresolved tag|Could not resolve tag|Not a valid tag)\b.*/s, 'an unknown YAML tag'],
  [/^The .* tag has no suffix.*/s, 'a YAML tag without a suffix'],
  [/^Verbatim tags aren't resolved.*/s, 'an unresolved verbatim tag'],
  [/^Unresolved plain scalar\b.*/s, 'an unresolved plain scalar'],
  [/^Unexpected (?!,).* in (.*)$/s, 'an unexpected token in a $1'],
  [/^Ordered maps must not include duplicate keys\b.*/s, 'a duplicate key in an ordered map'],
];

function describeYamlError(code: string, message: string): { message: string; hint: string } {
  if (code === 'DUPLICATE_KEY')
    return {
      message: 'duplicate key: a key may appear only once in a mapping',
      hint: 'remove or merge the repeated key',
    };
  let text = message.split('\n')[0]!.replace(/ at line \d+, column \d+.*$/, '');
  const leaky = LEAKY_MESSAGES.find(([re]) => re.test(text));
  if (leaky) text = text.replace(leaky[0], leaky[1]);
  else text = text.charAt(0).toLowerCase() + text.slice(1);
  const hint =
    code === 'TAB_AS_INDENT'
      ? 'indent with spaces'
      : /Missing closing/.test(text)
        ? 'close the quote'
        : 'fix the YAML at this position';
  return { message: `YAML syntax error: ${text}`, hint };
}

function toPosition(lines: LineCounter, offset: number): Position {
  const { line, col } = lines.linePos(offset);
  return { line, col };
}

const within = (node: unknown, offset: number): boolean => {
  const r = isNode(node) ? node.range : undefined;
  return !!r && offset >= r[0] && offset < Math.max(r[2], r[1], r[0] + 1);
};

/** The path of the deepest mapping key or list item around `offset`, for syntax errors. */
function pathAtOffset(doc: Document, offset: number): DocPath {
  const path: (string | number)[] = [];
  let node: unknown = doc.contents;
  for (;;) {
    if (isMap(node)) {
      const pair = node.items.find((p) => within(p.key, offset) || within(p.value, offset));
      if (!pair || !isScalar(pair.key)) break;
      path.push(String(pair.key.value));
      if (within(pair.key, offset)) break;
      node = pair.value;
    } else if (isSeq(node)) {
      const i = node.items.findIndex((item) => within(item, offset));
      if (i < 0) break;
      path.push(i);
      node = node.items[i];
    } else break;
  }
  return path;
}

/**
 * Where a problem with `path` shows in the file.
 * - 'value': the value at path; its key when the value is empty or a block mapping or list
 *   (a block starts on the line after its key, and the key is where the field "is").
 * - 'key': the key itself (unknown fields).
 * - 'parent': the field is missing: the key (or list item) of the mapping that should hold it.
 * A path that runs out early points at the key of the deepest part that exists.
 */
export function positionOf(
  parsed: ParsedDocument,
  path: DocPath,
  at: 'value' | 'key' | 'parent' = 'value',
): Position {
  const steps = at === 'parent' ? path.slice(0, -1) : path;
  let node: unknown = parsed.doc.contents;
  // The key that led to `node` when it is a mapping's value; null for list items and the root.
  let key: Node | null = null;
  let complete = true;
  for (const seg of steps) {
    const pair = isMap(node)
      ? node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg))
      : undefined;
    const item = isSeq(node) && typeof seg === 'number' ? node.items[seg] : undefined;
    if (pair) {
      key = isNode(pair.key) ? pair.key : null;
      node = pair.value;
    } else if (isNode(item)) {
      key = null;
      node = item;
    } else {
      complete = false;
      break;
    }
  }
  const empty = !isNode(node) || (isScalar(node) && node.value === null);
  const block = (isMap(node) || isSeq(node)) && !node.flow;
  const target = key && (at !== 'value' || !complete || empty || block) ? key : isNode(node) ? node : null;
  return toPosition(parsed.lines, target?.range?.[0] ?? 0);
}

function isNode(x: unknown): x is Node {
  return typeof x === 'object' && x !== null && 'range' in x;
}
