// Bundles the CLI and the node agent with esbuild, then the CLI as one file (dist/sea/cplbctl).
// Runs on `npm ci` (prepare), so the bin works at once. --cli-only: dist/cli.js alone (tests).
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

await build({
  entryPoints: ['src/cli.ts'],
  outdir: 'dist',
  bundle: true,
  // Every command is imported statically (ssh2, listr2 and the lab load with the CLI): one entry, no lazy chunks.
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  logLevel: 'warning',
  chunkNames: 'chunks/[name]-[hash]',
  // Runtime dependencies stay in node_modules (ssh2 loads optional native modules at run time).
  packages: 'external',
});

if (!process.argv.includes('--cli-only')) {
  execFileSync(process.execPath, ['scripts/build-agent.mjs'], { stdio: 'inherit' });
  // The CLI as one file carries the agent's single executable: only where that was built.
  if (existsSync('dist/agent/cplb-agent.gz'))
    execFileSync(process.execPath, ['scripts/build-sea.mjs'], { stdio: 'inherit' });
  else console.log('CLI single executable skipped: no agent single executable was built');
}
