// Builds the node agent: an esbuild bundle (dist/agent/cplb-agent.js, no runtime deps), then a Node
// single executable application (dist/agent/cplb-agent, linux-x64) when postject is available.
//
//   node scripts/build-agent.mjs            bundle, and the SEA if postject is installed
//   node scripts/build-agent.mjs --no-sea   bundle only
//   node scripts/build-agent.mjs --sea      fail when the SEA cannot be built
//   node scripts/build-agent.mjs --out DIR  build into DIR instead of dist/agent (a second build)
//
// CPLB_AGENT_BUILD_STAMP=TEXT stamps the build: the agent reports it (`cplb-agent version`, its
// status document, cplbctl status), and it makes a build differ from another of the same version.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  statSync,
  writeFileSync,
  chmodSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { gzipSync } from 'node:zlib';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const outAt = argv.indexOf('--out');
if (outAt >= 0 && !argv[outAt + 1]) throw new Error('--out needs a directory');
const outDir = outAt >= 0 ? resolve(argv.splice(outAt, 2)[1]) : join(root, 'dist/agent');
const bundle = join(outDir, 'cplb-agent.js');
const exe = join(outDir, 'cplb-agent');
const args = new Set(argv);
const stamp = process.env.CPLB_AGENT_BUILD_STAMP ?? '';
if (!/^[\w.+-]{0,64}$/.test(stamp))
  throw new Error(`CPLB_AGENT_BUILD_STAMP: up to 64 of A-Z a-z 0-9 . _ + -, not ${JSON.stringify(stamp)}`);
const mb = (bytes) => `${(bytes / 1024 / 1024).toFixed(2)} MB`;

mkdirSync(outDir, { recursive: true });
const started = Date.now();
await build({
  entryPoints: [join(root, 'src/agent/main.ts')],
  outfile: bundle,
  bundle: true,
  platform: 'node',
  target: 'node18',
  // CommonJS: a Node 20 SEA runs its main script as CJS.
  format: 'cjs',
  // Whitespace and syntax only: stack traces in the agent's log keep readable names.
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  banner: { js: '#!/usr/bin/env node' },
  logLevel: 'warning',
  define: { CPLB_AGENT_BUILD_STAMP: JSON.stringify(stamp) },
});
chmodSync(bundle, 0o755);
// The repo is "type": "module": mark dist/agent as CommonJS so the bundle also runs in place.
writeFileSync(join(outDir, 'package.json'), '{ "type": "commonjs" }\n');
console.log(`bundle  ${bundle}  ${mb(statSync(bundle).size)}  (${Date.now() - started} ms)`);

if (args.has('--no-sea')) process.exit(0);

function findPostject() {
  // POSTJECT=/path/to/postject/dist/cli.js uses an injector installed elsewhere.
  if (process.env.POSTJECT) return process.env.POSTJECT;
  try {
    return createRequire(join(root, 'package.json')).resolve('postject/dist/cli.js');
  } catch {
    return undefined;
  }
}

const postject = findPostject();
if (!postject) {
  const msg =
    'SEA skipped: postject is not installed (npm i -D postject); Node 20 has no built-in injector. ' +
    `The bundle runs as \`node ${bundle}\`.`;
  if (args.has('--sea')) {
    console.error(msg);
    process.exit(1);
  }
  console.log(msg);
  process.exit(0);
}
if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.error(
    `SEA skipped: built from this node binary, which is ${process.platform}-${process.arch}, not linux-x64`,
  );
  process.exit(args.has('--sea') ? 1 : 0);
}

const seaConfig = join(outDir, 'sea-config.json');
const blob = join(outDir, 'sea-prep.blob');
writeFileSync(
  seaConfig,
  JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true }),
);
execFileSync(process.execPath, ['--experimental-sea-config', seaConfig], { stdio: 'inherit' });
copyFileSync(process.execPath, exe);
chmodSync(exe, 0o755);
// Symbols and debug info: ~13 MB the agent never needs at run time.
try {
  execFileSync('strip', ['--strip-all', exe], { stdio: 'ignore' });
} catch {
  // no binutils: keep the larger binary
}
execFileSync(
  process.execPath,
  [postject, exe, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'],
  { stdio: 'inherit' },
);
const version = execFileSync(exe, ['version'], { encoding: 'utf8' }).trim();
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
if (!version.includes(pkg.version) || (stamp && !version.includes(stamp)))
  throw new Error(`SEA self-test failed: ${version}`);
console.log(`sea     ${exe}  ${mb(statSync(exe).size)}  (${version})`);
// Uploads send this (the host runs gzip -dc): a third of the bytes for every host.
writeFileSync(`${exe}.gz`, gzipSync(readFileSync(exe), { level: 6 }));
console.log(`gzip    ${exe}.gz  ${mb(statSync(`${exe}.gz`).size)}`);
if (!existsSync(exe)) process.exit(1);
