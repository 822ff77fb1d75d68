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
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { bundleCjs, makeSea, mb, resolvePostject, root } from './sea.mjs';

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

await bundleCjs(outDir, bundle, {
  entryPoints: [join(root, 'src/agent/main.ts')],
  target: 'node18',
  banner: { js: '#!/usr/bin/env node' },
  logLevel: 'warning',
  define: { CPLB_AGENT_BUILD_STAMP: JSON.stringify(stamp) },
});
chmodSync(bundle, 0o755);

if (args.has('--no-sea')) process.exit(0);

function findPostject() {
  // POSTJECT=/path/to/postject/dist/cli.js uses an injector installed elsewhere.
  if (process.env.POSTJECT) return process.env.POSTJECT;
  try {
    return resolvePostject();
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

makeSea({ outDir, main: bundle, exe, postject });
const version = execFileSync(exe, ['version'], { encoding: 'utf8' }).trim();
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
if (!version.includes(pkg.version) || (stamp && !version.includes(stamp)))
  throw new Error(`SEA self-test failed: ${version}`);
console.log(`sea     ${exe}  ${mb(statSync(exe).size)}  (${version})`);
// Uploads send this (the host runs gzip -dc): a third of the bytes for every host.
writeFileSync(`${exe}.gz`, gzipSync(readFileSync(exe), { level: 6 }));
console.log(`gzip    ${exe}.gz  ${mb(statSync(`${exe}.gz`).size)}`);
if (!existsSync(exe)) process.exit(1);
