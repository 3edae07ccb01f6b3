// Installed footprint of @durable/core + @durable/fs as a user gets them: pack both, install the
// tarballs with npm into an empty project, and list what came along. Fails (exit 1) if an AWS
// SDK, mongodb or ioredis is pulled in. Needs the npm registry for third-party dependencies.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const repo = resolve(import.meta.dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'durable-footprint-'));
const tarballs = ['core', 'fs'].map((name) => {
  const out = execFileSync('pnpm', ['pack', '--pack-destination', work], {
    cwd: join(repo, 'packages', name),
  })
    .toString()
    .trim()
    .split('\n');
  return out[out.length - 1];
});
writeFileSync(
  join(work, 'package.json'),
  JSON.stringify({ name: 'footprint-check', private: true }),
);
execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...tarballs], {
  cwd: work,
  stdio: 'inherit',
});

function packages(dir) {
  const found = [];
  for (const name of readdirSync(dir)) {
    if (name.startsWith('.')) continue;
    if (name.startsWith('@'))
      for (const sub of readdirSync(join(dir, name))) found.push(`${name}/${sub}`);
    else found.push(name);
  }
  return found;
}
function size(path) {
  const stats = statSync(path);
  if (!stats.isDirectory()) return stats.size;
  return readdirSync(path).reduce((sum, name) => sum + size(join(path, name)), 0);
}
const modules = join(work, 'node_modules');
const installed = packages(modules);
const forbidden = installed.filter((name) =>
  /^@aws-sdk\/|^@smithy\/|^mongodb$|^ioredis$/.test(name),
);
console.log(
  `@durable/core + @durable/fs install ${installed.length} packages, ${(
    size(modules) / 1024
  ).toFixed(0)} KiB on disk:`,
);
console.log(`  ${installed.join(', ')}`);
console.log(
  forbidden.length === 0
    ? '  no AWS SDK, mongodb or ioredis: OK'
    : `  FORBIDDEN packages pulled in: ${forbidden.join(', ')}`,
);
rmSync(work, { recursive: true, force: true });
if (forbidden.length > 0) process.exit(1);
