import tseslint from 'typescript-eslint';

/**
 * The layers, top to bottom, and what each may import (ARCHITECTURE.md draws them). A folder not
 * listed under a layer is a lint error when that layer imports it; import cycles are checked by
 * dependency-cruiser (.dependency-cruiser.cjs), both in `npm run lint`.
 */
export const LAYERS = {
  // The entry (src/cli.ts, src/program.ts) sits above everything.
  commands: [
    'flows',
    'verify',
    'apply',
    'lock',
    'lab',
    'pipeline',
    'ssh',
    'plan',
    'config',
    'core',
    'contract',
  ],
  flows: ['phases', 'verify', 'apply', 'pipeline', 'config', 'core', 'contract'],
  phases: ['verify', 'apply', 'lock', 'pipeline', 'ssh', 'plan', 'render', 'config', 'core', 'contract'],
  verify: ['apply', 'lock', 'pipeline', 'ssh', 'plan', 'render', 'config', 'core', 'contract'],
  apply: ['lock', 'pipeline', 'ssh', 'plan', 'render', 'config', 'core', 'contract'],
  lock: ['ssh', 'core', 'contract'],
  pipeline: ['core', 'contract'],
  ssh: ['core', 'contract'],
  lab: ['ssh', 'config', 'core', 'contract'],
  plan: ['render', 'config', 'core', 'contract'],
  render: ['config', 'core', 'contract'],
  config: ['core', 'contract'],
  core: ['contract'],
  // Shared with the node agent: imports nothing else of src.
  contract: [],
  // The node agent runs on the controllers: only the contract and its own files.
  agent: ['contract'],
};
const FOLDERS = [...Object.keys(LAYERS), 'cli', 'program'];

const SSH2_ONLY_IN_SSH = { name: 'ssh2', message: 'Only src/ssh/ imports ssh2; use the Remote interface.' };

/** A relative import that climbs out of the file's folder into `folder` (src/X or phases/). */
const into = (folder) => `^(\\.\\./)+(src/)?${folder}(/|\\.js$)`;

function layerRule(layer) {
  const allowed = new Set([layer, ...LAYERS[layer]]);
  const forbidden = FOLDERS.filter((f) => !allowed.has(f));
  const patterns = [
    {
      regex: into(`(${forbidden.join('|')})`),
      message: `${layer === 'phases' ? 'phases/' : `src/${layer}`} may import only ${LAYERS[layer].join(', ') || 'itself'} (see eslint.config.js and ARCHITECTURE.md).`,
    },
  ];
  // The ssh layer's surface is its index and the Remote interface.
  if (layer !== 'ssh' && LAYERS[layer].includes('ssh'))
    patterns.push({
      regex: '^(\\.\\./)+(src/)?ssh/(?!index\\.js$|remote\\.js$)',
      message: 'outside src/ssh, import src/ssh/index.js or src/ssh/remote.js only.',
    });
  // A phase reaches others only through the run's state; the phase lists live in src/flows.
  if (layer === 'phases')
    patterns.push({
      regex: '^\\./',
      message: 'a phase does not import another phase: move what both need to a module under src/.',
    });
  return {
    files: [layer === 'phases' ? 'phases/**/*.ts' : `src/${layer}/**/*.ts`],
    rules: {
      'no-restricted-imports': ['error', { paths: layer === 'ssh' ? [] : [SSH2_ONLY_IN_SSH], patterns }],
    },
  };
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'fixtures/**', '.lab/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  ...Object.keys(LAYERS).map(layerRule),
);
