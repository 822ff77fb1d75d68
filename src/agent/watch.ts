/** Calls back (debounced) when any of the given files changes, including by rename onto it. */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { errorText, type Logger } from './log.js';

export function watchFiles(files: string[], onChange: () => void, log: Logger, debounceMs = 200): () => void {
  const watchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;
  for (const dir of new Set(files.map((f) => dirname(f)))) {
    const names = new Set(files.filter((f) => dirname(f) === dir).map((f) => basename(f)));
    try {
      // Watch the directory: the planner replaces files by rename, which a watch on the file would miss.
      const w = watch(dir, (_event, name) => {
        if (name && !names.has(name.toString())) return;
        clearTimeout(timer);
        timer = setTimeout(onChange, debounceMs);
      });
      w.on('error', (err) => log.warn('config watch failed', { dir, error: errorText(err) }));
      watchers.push(w);
    } catch (err) {
      log.warn('cannot watch config dir; SIGHUP still reloads', { dir, error: errorText(err) });
    }
  }
  return () => {
    clearTimeout(timer);
    for (const w of watchers) w.close();
  };
}
