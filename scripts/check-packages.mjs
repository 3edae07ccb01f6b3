// Packaging checks for every published package (run by the README's test command after the
// build): publint with warnings as failures, and the tarball itself: a LICENSE, and every source
// map carrying its sources (the maps point at src/, which is not shipped).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';

const repo = resolve(import.meta.dirname, '..');
// scripts/pnpm.sh exports the pnpm command it picked (pnpm 9, or pnpm 9 through npx).
const [pnpm, ...pnpmArgs] = (process.env.DURABLE_PNPM ?? 'pnpm').split(' ');
const problems = [];
for (const name of readdirSync(join(repo, 'packages'))) {
  const dir = join(repo, 'packages', name);
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  if (pkg.private) continue;
  const work = mkdtempSync(join(tmpdir(), 'durable-pack-'));
  try {
    execFileSync(pnpm, [...pnpmArgs, 'pack', '--pack-destination', work], {
      cwd: dir,
      stdio: 'ignore',
    });
    const tarball = join(
      work,
      readdirSync(work).find((file) => file.endsWith('.tgz')),
    );
    execFileSync('tar', ['-xzf', tarball, '-C', work]);
    // publint on the unpacked tarball: exactly what users install.
    const { messages } = await publint({
      pkgDir: join(work, 'package'),
      level: 'warning',
      strict: true,
      pack: false,
    });
    for (const message of messages)
      problems.push(
        `${pkg.name}: publint ${message.type}: ${formatMessage(message, pkg) ?? message.code}`,
      );
    const files = listFiles(join(work, 'package'));
    if (!files.includes('LICENSE')) problems.push(`${pkg.name}: the tarball has no LICENSE`);
    for (const file of files.filter((f) => f.endsWith('.map'))) {
      const map = JSON.parse(readFileSync(join(work, 'package', file), 'utf8'));
      if (
        !Array.isArray(map.sourcesContent) ||
        map.sourcesContent.length !== map.sources.length ||
        !map.sourcesContent.every((content) => typeof content === 'string')
      ) {
        problems.push(
          `${pkg.name}: ${file} points at sources that are not shipped (no sourcesContent)`,
        );
      }
    }
    console.log(`${pkg.name}: ${files.length} files packed`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function listFiles(root, prefix = '') {
  return readdirSync(join(root, prefix), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? listFiles(root, join(prefix, entry.name)) : [join(prefix, entry.name)],
  );
}

if (problems.length > 0) {
  console.error(`packaging problems:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(
  'packaging: every published package passes publint, ships its LICENSE and self-contained source maps',
);
