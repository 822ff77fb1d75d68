import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'fixtures/**', '.lab/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Only src/ssh may import ssh2: everything else talks to the Remote interface.
      'no-restricted-imports': [
        'error',
        { paths: [{ name: 'ssh2', message: 'Only src/ssh/ imports ssh2; use the Remote interface.' }] },
      ],
    },
  },
  { files: ['src/ssh/**', 'test/**', 'src/lab/**'], rules: { 'no-restricted-imports': 'off' } },
);
