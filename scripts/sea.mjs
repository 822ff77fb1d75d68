// What scripts/build-agent.mjs (the node agent) and scripts/build-sea.mjs (the CLI) share: a CommonJS
// esbuild bundle, and its injection into a copy of this node binary as a Node single executable
// application (SEA). One copy, so a fix to the SEA steps reaches both executables.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const mb = (bytes) => `${(bytes / 1024 / 1024).toFixed(2)} MB`;

/**
 * Bundles `options.entryPoints` into `outfile` (in `outDir`) as CommonJS, which a Node 20 SEA runs its
 * main script as, and marks `outDir` CommonJS (the repo is "type": "module") so the bundle also runs
 * in place. `options` adds to or overrides the shared esbuild options (target, logLevel, ...).
 */
export async function bundleCjs(outDir, outfile, options) {
  mkdirSync(outDir, { recursive: true });
  const started = Date.now();
  await build({
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    // Whitespace and syntax only: stack traces keep readable names.
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    ...options,
  });
  writeFileSync(join(outDir, 'package.json'), '{ "type": "commonjs" }\n');
  console.log(`bundle  ${outfile}  ${mb(statSync(outfile).size)}  (${Date.now() - started} ms)`);
}

/** postject's CLI from this repo's node_modules; throws when it is not installed. */
export function resolvePostject() {
  return createRequire(join(root, 'package.json')).resolve('postject/dist/cli.js');
}

/**
 * Makes `exe` a single executable running `main`: a preparation blob from sea-config.json (both in
 * `outDir`, with `assets` when given), injected by `postject` into a stripped copy of this node binary.
 */
export function makeSea({ outDir, main, exe, postject, assets }) {
  const seaConfig = join(outDir, 'sea-config.json');
  const blob = join(outDir, 'sea-prep.blob');
  writeFileSync(
    seaConfig,
    JSON.stringify({
      main,
      output: blob,
      disableExperimentalSEAWarning: true,
      useCodeCache: true,
      ...(assets ? { assets } : {}),
    }),
  );
  execFileSync(process.execPath, ['--experimental-sea-config', seaConfig], { stdio: 'inherit' });
  copyFileSync(process.execPath, exe);
  chmodSync(exe, 0o755);
  // Symbols and debug info: ~13 MB an executable never needs at run time.
  try {
    execFileSync('strip', ['--strip-all', exe], { stdio: 'ignore' });
  } catch {
    // no binutils: keep the larger binary
  }
  execFileSync(
    process.execPath,
    [
      postject,
      exe,
      'NODE_SEA_BLOB',
      blob,
      '--sentinel-fuse',
      'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2',
    ],
    { stdio: 'inherit' },
  );
}
