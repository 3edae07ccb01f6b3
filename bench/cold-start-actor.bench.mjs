// Cold start of the persisted actor and the orchestrator, which serverless users pay on every new
// instance. In fresh processes, median of 15 interleaved runs each:
//   - '@durable/core' (storage + lock only) must load neither xstate nor cloudevents;
//   - '@durable/core/actor' and '@durable/core/orchestrator' must cost no more than importing
//     xstate and cloudevents themselves + 10 ms.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './support/stats.mjs';

const here = dirname(fileURLToPath(import.meta.url));
// The baseline imports xstate and cloudevents by name from @durable/core's own folder, so it
// loads exactly the copies (and the ESM/CJS builds) that the subpaths load.
const coreDir = dirname(createRequire(import.meta.url).resolve('@durable/core/package.json'));

const cases = {
  '@durable/core': { cwd: here, specifiers: ['@durable/core'] },
  'xstate + cloudevents (baseline)': { cwd: coreDir, specifiers: ['xstate', 'cloudevents'] },
  '@durable/core/actor': { cwd: here, specifiers: ['@durable/core/actor'] },
  '@durable/core/orchestrator': { cwd: here, specifiers: ['@durable/core/orchestrator'] },
};

function importMs({ cwd, specifiers }) {
  const code = `const t = performance.now(); ${specifiers
    .map((s) => `await import(${JSON.stringify(s)});`)
    .join(' ')} console.log(performance.now() - t);`;
  return Number(
    execFileSync(process.execPath, ['--input-type=module', '-e', code], { cwd }).toString(),
  );
}

const runs = 15;
const times = Object.fromEntries(Object.keys(cases).map((name) => [name, []]));
for (let i = 0; i < runs; i++) {
  for (const [name, spec] of Object.entries(cases)) times[name].push(importMs(spec));
}
const loaded = execFileSync(
  process.execPath,
  [
    '-e',
    "require('@durable/core'); console.log(Object.keys(require.cache).filter((p) => /[\\\\/](xstate|cloudevents)[\\\\/]/.test(p)).length)",
  ],
  { cwd: here },
)
  .toString()
  .trim();

console.log(`import cost in a fresh process, median of ${runs} (min-max):`);
for (const [name, values] of Object.entries(times)) {
  console.log(
    `  ${name.padEnd(34)} ${median(values).toFixed(1).padStart(6)} ms  (${Math.min(
      ...values,
    ).toFixed(1)}-${Math.max(...values).toFixed(1)})`,
  );
}
const base = median(times['xstate + cloudevents (baseline)']);
for (const name of ['@durable/core/actor', '@durable/core/orchestrator']) {
  const extra = median(times[name]) - base;
  console.log(
    `  ${name} over the baseline: ${extra >= 0 ? '+' : ''}${extra.toFixed(
      1,
    )} ms (target <= +10 ms): ${extra <= 10 ? 'ok' : 'OVER'}`,
  );
}
console.log(
  `  xstate/cloudevents modules loaded by require('@durable/core'): ${loaded} (target 0): ${
    loaded === '0' ? 'ok' : 'FAIL'
  }`,
);
