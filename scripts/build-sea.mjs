// Builds the CLI as one file for linux-x64 (dist/sea/cplbctl): an esbuild CommonJS bundle of
// src/sea-main.ts with every dependency inside, injected into a copy of this node binary as a Node
// single executable, the agent builds (dist/agent) as its assets. Needs the agent built first.
//
//   node scripts/build-sea.mjs
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'dist/sea');
const agentDir = join(root, 'dist/agent');
const bundle = join(outDir, 'cplbctl.cjs');
const exe = join(outDir, 'cplbctl');
const mb = (bytes) => `${(bytes / 1024 / 1024).toFixed(2)} MB`;

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

mkdirSync(outDir, { recursive: true });
const started = Date.now();
await build({
  entryPoints: [join(root, 'src/sea-main.ts')],
  outfile: bundle,
  bundle: true,
  platform: 'node',
  target: 'node20',
  // A Node 20 SEA runs its main script as CommonJS.
  format: 'cjs',
  plugins: [withoutNativeAddons],
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  logLevel: 'error',
});
writeFileSync(join(outDir, 'package.json'), '{ "type": "commonjs" }\n');
console.log(`bundle  ${bundle}  ${mb(statSync(bundle).size)}  (${Date.now() - started} ms)`);

// The unpacked agent's directory is named by this: a new build never reuses an older build's files.
const agentId = join(outDir, 'agent-id');
const hash = createHash('sha256');
for (const f of ['cplb-agent.gz', 'cplb-agent.js']) hash.update(readFileSync(join(agentDir, f)));
writeFileSync(agentId, hash.digest('hex').slice(0, 16) + '\n');

const seaConfig = join(outDir, 'sea-config.json');
const blob = join(outDir, 'sea-prep.blob');
writeFileSync(
  seaConfig,
  JSON.stringify({
    main: bundle,
    output: blob,
    disableExperimentalSEAWarning: true,
    useCodeCache: true,
    assets: {
      'agent-id': agentId,
      'cplb-agent.gz': join(agentDir, 'cplb-agent.gz'),
      'cplb-agent.js': join(agentDir, 'cplb-agent.js'),
    },
  }),
);
execFileSync(process.execPath, ['--experimental-sea-config', seaConfig], { stdio: 'inherit' });
copyFileSync(process.execPath, exe);
chmodSync(exe, 0o755);
try {
  execFileSync('strip', ['--strip-all', exe], { stdio: 'ignore' });
} catch {
  // no binutils: keep the larger binary
}
const postject = createRequire(join(root, 'package.json')).resolve('postject/dist/cli.js');
execFileSync(
  process.execPath,
  [postject, exe, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'],
  { stdio: 'inherit' },
);
const version = execFileSync(exe, ['--version'], { encoding: 'utf8' }).trim();
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
if (version !== pkg.version) throw new Error(`CLI single executable self-test failed: ${version}`);
console.log(`sea     ${exe}  ${mb(statSync(exe).size)}  (cplbctl ${version})`);
