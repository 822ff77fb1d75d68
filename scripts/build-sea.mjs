// Builds the CLI as one file for linux-x64 (dist/sea/cplbctl): an esbuild CommonJS bundle of
// src/sea-main.ts with every dependency inside, injected into a copy of this node binary as a Node
// single executable, the agent builds (dist/agent) as its assets. Needs the agent built first.
//
//   node scripts/build-sea.mjs
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleCjs, makeSea, mb, resolvePostject, root } from './sea.mjs';

const outDir = join(root, 'dist/sea');
const agentDir = join(root, 'dist/agent');
const bundle = join(outDir, 'cplbctl.cjs');
const exe = join(outDir, 'cplbctl');

for (const f of ['cplb-agent.gz', 'cplb-agent.js'])
  if (!existsSync(join(agentDir, f))) {
    console.error(`CLI single executable skipped: ${join(agentDir, f)} is missing (build the agent first)`);
    process.exit(1);
  }
if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.error(
    `CLI single executable skipped: this node is ${process.platform}-${process.arch}, not linux-x64`,
  );
  process.exit(1);
}

/**
 * ssh2's optional native speed-ups (its sshcrypto .node file, cpu-features) cannot load from a SEA:
 * each becomes a module that throws, which ssh2 catches and falls back to JavaScript, as a plain npm
 * install without a compiler does. (Left external, requiring them prints a SEA warning on every run.)
 */
const withoutNativeAddons = {
  name: 'without-native-addons',
  setup(b) {
    b.onResolve({ filter: /\.node$|^cpu-features$/ }, (a) => ({ path: a.path, namespace: 'no-addon' }));
    b.onLoad({ filter: /.*/, namespace: 'no-addon' }, (a) => ({
      contents: `throw new Error(${JSON.stringify(`${a.path}: native addons are not in the single executable`)});`,
      loader: 'js',
    }));
  },
};

await bundleCjs(outDir, bundle, {
  entryPoints: [join(root, 'src/sea-main.ts')],
  target: 'node20',
  plugins: [withoutNativeAddons],
  logLevel: 'error',
});

// The unpacked agent's directory is named by this: a new build never reuses an older build's files.
const agentId = join(outDir, 'agent-id');
const hash = createHash('sha256');
for (const f of ['cplb-agent.gz', 'cplb-agent.js']) hash.update(readFileSync(join(agentDir, f)));
writeFileSync(agentId, hash.digest('hex').slice(0, 16) + '\n');

makeSea({
  outDir,
  main: bundle,
  exe,
  postject: resolvePostject(),
  assets: {
    'agent-id': agentId,
    'cplb-agent.gz': join(agentDir, 'cplb-agent.gz'),
    'cplb-agent.js': join(agentDir, 'cplb-agent.js'),
  },
});
const version = execFileSync(exe, ['--version'], { encoding: 'utf8' }).trim();
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
if (version !== pkg.version) throw new Error(`CLI single executable self-test failed: ${version}`);
console.log(`sea     ${exe}  ${mb(statSync(exe).size)}  (cplbctl ${version})`);
