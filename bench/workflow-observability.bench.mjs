// The cost of the workflow engine's structured logs and OpenTelemetry spans: 3-step workflows
// per second, each variant in a fresh process, variants interleaved round by round:
//   before       (with BENCH_BEFORE) the engine before logs and spans, no logger
//   no-api       @opentelemetry/api cannot be loaded (a resolve hook refuses it), no logger:
//                what an application without OpenTelemetry runs
//   api          the API is installed, no SDK registered (its tracer is a no-op), no logger
//   noop-logger  as api, with a pino-shaped logger whose methods do nothing
//   sdk          as noop-logger, with an SDK registered (BasicTracerProvider, a span processor
//                exporting to nowhere): every run and step span is created, recorded and ended
// Stores: memory (CPU-bound: the worst case for this overhead) and fs (fsync on: what users run).
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { register } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
// BENCH_BEFORE: the workflow package's ESM entry built from the code before logs and spans were
// added (a `before` variant, then the baseline): `git archive <commit> packages/workflow/src`, built.
const BEFORE = process.env.BENCH_BEFORE;
const VARIANTS = [
  ...(BEFORE === undefined ? [] : ['before']),
  'no-api',
  'api',
  'noop-logger',
  'sdk',
];
const BASELINE = VARIANTS[0];
const KINDS = (process.env.BENCH_STORES ?? 'memory,fs').split(',');
const COUNTS = {
  memory: Number(process.env.BENCH_WORKFLOWS ?? 2000),
  fs: Number(process.env.BENCH_FS_WORKFLOWS ?? 300),
};

if (process.argv[2] === 'child') {
  const [, , , variant, kind] = process.argv;
  if (variant === 'no-api') {
    const hook = `export async function resolve(specifier, context, next) {
      if (specifier === '@opentelemetry/api') throw Object.assign(new Error('blocked by the bench'), { code: 'ERR_MODULE_NOT_FOUND' });
      return next(specifier, context);
    }`;
    register(`data:text/javascript,${encodeURIComponent(hook)}`, pathToFileURL('./'));
  }
  if (variant === 'sdk') {
    const { trace } = await import('@opentelemetry/api');
    const { BasicTracerProvider, SimpleSpanProcessor } = await import(
      '@opentelemetry/sdk-trace-base'
    );
    const exporter = {
      export: (spans, done) => done({ code: 0 }),
      shutdown: async () => undefined,
    };
    trace.setGlobalTracerProvider(
      new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
    );
  }
  const { MemoryWorkflowStore } = await import('@durable/core');
  const { FileWorkflowStore } = await import('@durable/fs');
  const { WorkflowClient, defineWorkflow } = await import(
    variant === 'before' ? pathToFileURL(BEFORE).href : '@durable/workflow'
  );
  const noop = () => undefined;
  const logger =
    variant === 'noop-logger' || variant === 'sdk'
      ? { debug: noop, info: noop, warn: noop, error: noop }
      : undefined;
  const threeSteps = defineWorkflow('threeSteps', async (ctx, input) => {
    const a = await ctx.step('one', () => input.n + 1);
    const b = await ctx.step('two', () => a * 2);
    return ctx.step('three', () => ({ total: b }));
  });
  const root = kind === 'fs' ? mkdtempSync(join(tmpdir(), 'durable-bench-obs-')) : undefined;
  const store = kind === 'fs' ? new FileWorkflowStore({ root }) : new MemoryWorkflowStore();
  const client = new WorkflowClient({
    store,
    workflows: [threeSteps],
    concurrency: 8,
    pollIntervalMs: 0,
    ...(logger === undefined ? {} : { logger }),
  });
  const total = COUNTS[kind];
  for (let i = 0; i < total; i++) await client.start(threeSteps, `wf-${i}`, { n: i });
  const started = performance.now();
  const cpu = process.cpuUsage();
  const stats = await client.drain();
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  if (stats.completed !== total)
    throw new Error(`${variant}/${kind}: ${stats.completed} of ${total} completed`);
  if (root !== undefined) rmSync(root, { recursive: true, force: true });
  process.send({
    perSecond: total / seconds,
    cpuMsPerWorkflow: (used.user + used.system) / 1000 / total,
  });
  process.exit(0);
} else {
  const run = (variant, kind) =>
    new Promise((resolve, reject) => {
      const child = fork(fileURLToPath(import.meta.url), ['child', variant, kind], {
        cwd: fileURLToPath(new URL('.', import.meta.url)),
      });
      child.once('message', (message) => resolve(message));
      child.once(
        'exit',
        (code) => code !== 0 && reject(new Error(`${variant}/${kind} exited with ${code}`)),
      );
    });
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(
    `3-step workflows/s, drain with concurrency 8, ${ROUNDS} rounds, variants interleaved, each in a fresh process`,
  );
  console.log(`costs are against ${BASELINE}${BEFORE === undefined ? '' : ` (${BEFORE})`}`);
  for (const kind of KINDS) {
    const results = Object.fromEntries(VARIANTS.map((v) => [v, []]));
    const cpu = Object.fromEntries(VARIANTS.map((v) => [v, []]));
    const ratios = Object.fromEntries(VARIANTS.map((v) => [v, []]));
    const cpuRatios = Object.fromEntries(VARIANTS.map((v) => [v, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const variant of VARIANTS) {
        const measured = await run(variant, kind);
        results[variant].push(measured.perSecond);
        cpu[variant].push(measured.cpuMsPerWorkflow);
      }
      for (const variant of VARIANTS) {
        ratios[variant].push(results[BASELINE][round] / results[variant][round]);
        cpuRatios[variant].push(cpu[variant][round] / cpu[BASELINE][round]);
      }
    }
    console.log(`\n${kind} store (${COUNTS[kind]} workflows a run)`);
    const pct = (r) => `${((r - 1) * 100).toFixed(0)}%`;
    for (const variant of VARIANTS) {
      const xs = results[variant];
      const cs = cpu[variant];
      console.log(
        `  ${variant.padEnd(12)} wall ${median(xs).toFixed(0).padStart(5)}/s (${Math.min(
          ...xs,
        ).toFixed(0)}-${Math.max(...xs).toFixed(0)}), cost ${pct(
          median(ratios[variant]),
        )} (rounds ${ratios[variant].map(pct).join(' ')})` +
          `;  CPU ${median(cs).toFixed(3)} ms/workflow, cost ${pct(
            median(cpuRatios[variant]),
          )} (rounds ${cpuRatios[variant].map(pct).join(' ')})`,
      );
    }
  }
}
