import { homedir } from 'node:os';
import { join } from 'node:path';

/** `~` and `~/x` expanded, as ssh and k0sctl do for keyPath. */
export function expandHome(p: string): string {
  if (p === '~') return homedir();
  if (p.startsWith('~/')) return join(homedir(), p.slice(2));
  return p;
}
