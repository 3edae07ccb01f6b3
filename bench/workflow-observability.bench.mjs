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
  // Two drains of `total` workflows, each on a fresh store: the first in a fresh process (what a
  // short-lived worker pays, JIT warm-up included), the second warm (a long-running worker).
  const drainOnce = async () => {
    const root = kind === 'fs' ? mkdtempSync(join(tmpdir(), 'durable-bench-obs-')) : undefined;
    const store = kind === 'fs' ? new FileWorkflowStore({ root }) : new MemoryWorkflowStore();
    const client = new WorkflowClient({
      store,
      workflows: [threeSteps],
      concurrency: 8,
      pollIntervalMs: 0,
      ...(logger === undefined ? {} : { logger }),
    });
    for (let i = 0; i < total; i++) await client.start(threeSteps, `wf-${i}`, { n: i });
    const started = performance.now();
    const cpu = process.cpuUsage();
    const stats = await client.drain();
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    if (stats.completed !== total)
      throw new Error(`${variant}/${kind}: ${stats.completed} of ${total} completed`);
    if (root !== undefined) rmSync(root, { recursive: true, force: true });
    return {
      perSecond: total / seconds,
      cpuMsPerWorkflow: (used.user + used.system) / 1000 / total,
    };
  };
  const total = COUNTS[kind];
  const cold = await drainOnce();
  const warm = await drainOnce();
  // The part of the logger's cost no engine can avoid: per workflow of a drain, the two events a
  // logger that declares no level takes (claimed, completed), each a record and a message handed
  // to a method that does nothing. Measured warm, after the drains.
  let inherentUs;
  if (logger !== undefined) {
    const at = performance.now();
    for (let i = 0; i < total; i++) {
      const id = `wf-${i}`;
      logger.info(
        { workflowId: id, handler: 'threeSteps', attempt: 1, recorded: 0 },
        `workflow ${id} claimed`,
      );
      logger.info(
        { workflowId: id, handler: 'threeSteps', attempt: 1, outcome: 'completed', durationMs: 1 },
        `workflow ${id} completed`,
      );
    }
    inherentUs = ((performance.now() - at) * 1000) / total;
  }
  process.send({ cold, warm, inherentUs });
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
    const runs = Object.fromEntries(VARIANTS.map((v) => [v, []]));
    for (let round = 0; round < ROUNDS; round++)
      for (const variant of VARIANTS) runs[variant].push(await run(variant, kind));
    console.log(`\n${kind} store (${COUNTS[kind]} workflows a drain)`);
    const pct = (r) => `${((r - 1) * 100).toFixed(0)}%`;
    const range = (xs, digits) =>
      `${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)}`;
    for (const phase of ['cold', 'warm']) {
      console.log(
        ` ${phase === 'cold' ? 'first drain in a fresh process' : 'second drain (warm)'}`,
      );
      for (const variant of VARIANTS) {
        const xs = runs[variant].map((m) => m[phase].perSecond);
        const cs = runs[variant].map((m) => m[phase].cpuMsPerWorkflow);
        const ratios = runs[variant].map(
          (m, i) => runs[BASELINE][i][phase].perSecond / m[phase].perSecond,
        );
        const cpuRatios = runs[variant].map(
          (m, i) => m[phase].cpuMsPerWorkflow / runs[BASELINE][i][phase].cpuMsPerWorkflow,
        );
        console.log(
          `  ${variant.padEnd(12)} wall ${median(xs).toFixed(0).padStart(5)}/s (${range(xs, 0)}), cost ${pct(
            median(ratios),
          )} (rounds ${ratios.map(pct).join(' ')})` +
            `;  CPU ${median(cs).toFixed(3)} ms/workflow (${range(cs, 3)}), cost ${pct(
              median(cpuRatios),
            )} (rounds ${cpuRatios.map(pct).join(' ')})`,
        );
      }
    }
    const inherent = runs['noop-logger'].map((m) => m.inherentUs);
    console.log(
      ` inherent: two records and calls per workflow into a logger that does nothing: ${median(
        inherent,
      ).toFixed(2)} µs/workflow (${range(inherent, 2)})`,
    );
  }
}
