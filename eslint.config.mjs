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
  },
);
