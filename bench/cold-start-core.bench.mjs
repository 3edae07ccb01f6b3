// Serverless cold start: time to import('@durable/core') (storage + lock contracts and memory
// implementations), its subpaths (the actor and the orchestrator load xstate / cloudevents; the
// adapter helpers when the package has them) and @durable/fs in a fresh process, median of 15
// runs; target under 40 ms for the main entry. Also what a bare `node -e` costs, for scale.
import { execFileSync } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './support/stats.mjs';

const here = dirname(fileURLToPath(import.meta.url));
function importMs(specifier) {
  const code = `const t = performance.now(); await import(${JSON.stringify(
    specifier,
  )}); console.log(performance.now() - t);`;
  return Number(
    execFileSync(process.execPath, ['--input-type=module', '-e', code], {
      cwd: here,
      stdio: ['ignore', 'pipe', 'pipe'],
    }).toString(),
  );
}
const runs = 15;
const specifiers = [
  '@durable/core',
  '@durable/core/actor',
  '@durable/core/orchestrator',
  '@durable/core/adapter',
  '@durable/fs',
];
for (const specifier of specifiers) {
  try {
    importMs(specifier);
  } catch {
    console.log(`import('${specifier}'): not exported by this build`);
    continue;
  }
  const times = Array.from({ length: runs }, () => importMs(specifier));
  console.log(
    `import('${specifier}') in a fresh process: median ${median(times).toFixed(
      1,
    )} ms (min ${Math.min(...times).toFixed(1)}, max ${Math.max(...times).toFixed(1)})`,
  );
}
const wall = Array.from({ length: runs }, () => {
  const t = performance.now();
  execFileSync(process.execPath, ['-e', '0']);
  return performance.now() - t;
});
console.log(
  `for scale, a whole bare node process start+exit: median ${median(wall).toFixed(1)} ms`,
);
