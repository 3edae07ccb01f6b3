// ESLint with typescript-eslint's type-checked rules, for the packages' sources. Formatting is
// Prettier's (.prettierrc.json); ESLint checks what types can tell. Run by scripts/lint.sh,
// which npm test calls, with zero warnings allowed.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/dist.*/**', '**/node_modules/**', '**/.turbo/**', '**/*.d.ts'] },
  {
    files: ['packages/*/src/**/*.ts'],
    extends: [js.configs.recommended, ...tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // `_name` marks a parameter an override may use, and `{ field, ...rest }` leaves a field out
      // of a copy: neither is a forgotten variable.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      // As only-throw-error does by default: a value typed `unknown` (an AbortSignal's reason, a
      // caught error) is passed on as it came, not invented.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
    },
  },
);
