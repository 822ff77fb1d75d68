// Bundles the CLI and the node agent with esbuild. Runs on `npm ci` (prepare), so the bin works at once.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const common = {
  bundle: true,
  platform: 'node',
  target: 'node18',
  sourcemap: 'linked',
  logLevel: 'warning',
  define: { __CPLBCTL_VERSION__: JSON.stringify(pkg.version) },
};

await build({
  ...common,
  entryPoints: ['src/cli.ts'],
  outfile: 'dist/cli.js',
  format: 'esm',
  // ssh2 loads optional native modules at run time; keep the package external.
  external: ['ssh2', 'cpu-features'],
  packages: 'external',
});
