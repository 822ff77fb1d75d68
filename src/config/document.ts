/** YAML parsing that keeps positions, so every problem can name its line and column. */
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { DocPath } from './types.js';

export interface Position {
  line: number;
  col: number;
}

export interface ParsedDocument {
  doc: Document;
  data: unknown;
  lines: LineCounter;
  syntaxErrors: { message: string; pos: Position }[];
}

export function parseYaml(text: string): ParsedDocument {
  const lines = new LineCounter();
  // prettyErrors off: its messages quote the offending source line, which may hold authPass.
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true, strict: true });
  const syntaxErrors = doc.errors.map((e) => ({
    message: describeYamlError(e.code, e.message),
    pos: toPosition(lines, e.pos[0]),
  }));
  const data = syntaxErrors.length ? undefined : doc.toJS({ maxAliasCount: 100 });
  return { doc, data, lines, syntaxErrors };
}

function describeYamlError(code: string, message: string): string {
  if (code === 'DUPLICATE_KEY') return 'duplicate key: a key may appear only once in a mapping';
  // The yaml package's messages can end with a source excerpt; keep the first line only.
  return `YAML syntax error: ${message.split('\n')[0]!.replace(/ at line \d+, column \d+.*$/, '')}`;
}

function toPosition(lines: LineCounter, offset: number): Position {
  const { line, col } = lines.linePos(offset);
  return { line, col };
}

/**
 * The position of the deepest node along `path` that exists. For a key that exists, its value;
 * with `atKey`, the key itself (for "unknown field" errors).
 */
export function positionOf(parsed: ParsedDocument, path: DocPath, atKey = false): Position {
  let node: unknown = parsed.doc.contents;
  let best: Node | null = isNode(node) ? node : null;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      if (i === path.length - 1 && atKey && isNode(pair.key)) {
        best = pair.key;
        break;
      }
      node = pair.value;
      // A key with no value (`authPass:`) still has a line: point at the key.
      best = isNode(node) ? node : isNode(pair.key) ? pair.key : best;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      if (!isNode(item)) break;
      node = item;
      best = item;
    } else break;
  }
  const offset = best?.range?.[0] ?? 0;
  return toPosition(parsed.lines, offset);
}

function isNode(x: unknown): x is Node {
  return typeof x === 'object' && x !== null && 'range' in x;
}
