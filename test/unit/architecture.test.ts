/** ARCHITECTURE.md's layer table is the lint rules' table, and it names every folder under src/. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const REPO = join(import.meta.dirname, '../..');
// eslint.config.js is plain JS without types: load it by path.
const config = join(REPO, 'eslint.config.js');
const { LAYERS } = (await import(config)) as { LAYERS: Record<string, string[]> };

/** Rows of the table: `src/x/` or `phases/` → the folders its last column lists. */
function documentedLayers(): Map<string, string[]> {
  const text = readFileSync(join(REPO, 'ARCHITECTURE.md'), 'utf8');
  const rows = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    const m = /^`(?:src\/)?([a-z]+)\/`$/.exec(cells[1] ?? '');
    if (!m) continue;
    const last = cells[cells.length - 2] ?? '';
    rows.set(m[1]!, last === 'nothing else of `src`' ? [] : last.split(',').map((s) => s.trim()));
  }
  return rows;
}

describe('ARCHITECTURE.md', () => {
  it('lists each layer with exactly the imports eslint.config.js allows it', () => {
    const doc = documentedLayers();
    expect([...doc.keys()].sort()).toEqual(Object.keys(LAYERS).sort());
    for (const [layer, allowed] of Object.entries(LAYERS)) expect(doc.get(layer), layer).toEqual(allowed);
  });

  it('names every folder under src/ (a new folder needs a place in the layers)', () => {
    const folders = readdirSync(join(REPO, 'src'), { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
    expect(folders.filter((f) => !(f in LAYERS))).toEqual([]);
  });
});
