import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'cdk.out/', 'coverage/', '**/*.js', '**/*.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-console': 'off',
      eqeqeq: ['error', 'always'],
      // Every external program starts through lib/util/command.ts, which turns a missing binary,
      // a signal or a timeout into one readable error and never leaves an 'error' event unheard.
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: ['child_process', 'node:child_process'].map((name) => ({
            name,
            message: 'start programs with run() or start() from lib/util/command.ts',
            allowTypeImports: true,
          })),
        },
      ],
    },
  },
  {
    files: ['lib/util/command.ts'],
    rules: { '@typescript-eslint/no-restricted-imports': 'off' },
  },
);
