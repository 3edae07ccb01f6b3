// Builds the package in the current folder twice, so that `import` and `require` both work:
// ESM to dist/esm (the source's own module syntax) and CommonJS to dist/cjs.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const tsc = require.resolve('typescript/bin/tsc');
rmSync('dist', { recursive: true, force: true });
run([tsc, '-p', 'tsconfig.build.json', '--outDir', 'dist/esm']);
run(
  [tsc, '-p', 'tsconfig.build.json', '--outDir', 'dist/cjs', '--module', 'commonjs', '--moduleResolution', 'node10',
    '--verbatimModuleSyntax', 'false', '--declarationMap', 'false'],
);
mkdirSync('dist/cjs', { recursive: true });
writeFileSync('dist/cjs/package.json', '{ "type": "commonjs" }\n');

function run(args) {
  const result = spawnSync(process.execPath, args, { stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
