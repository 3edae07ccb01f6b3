// Builds the package in the current folder twice, so that `import` and `require` both work:
// ESM to dist/esm (the source's own module syntax) and CommonJS to dist/cjs. It builds into a
// fresh folder and swaps it in, so processes using the old build (a test run beside a rebuild)
// never see a half-empty dist.
import { spawnSync } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const tsc = require.resolve('typescript/bin/tsc');
const next = `dist.next-${process.pid}`;
rmSync(next, { recursive: true, force: true });
run([tsc, '-p', 'tsconfig.build.json', '--outDir', `${next}/esm`]);
run([
  tsc,
  '-p',
  'tsconfig.build.json',
  '--outDir',
  `${next}/cjs`,
  '--module',
  'commonjs',
  '--moduleResolution',
  'node10',
  '--verbatimModuleSyntax',
  'false',
]);
mkdirSync(`${next}/cjs`, { recursive: true });
writeFileSync(`${next}/cjs/package.json`, '{ "type": "commonjs" }\n');
const old = `dist.old-${process.pid}`;
try {
  renameSync('dist', old);
} catch (error) {
  if (error.code !== 'ENOENT') throw error;
}
renameSync(next, 'dist');
rmSync(old, { recursive: true, force: true });

function run(args) {
  const result = spawnSync(process.execPath, args, { stdio: 'inherit' });
  if (result.status !== 0) {
    rmSync(next, { recursive: true, force: true });
    process.exit(result.status ?? 1);
  }
}
