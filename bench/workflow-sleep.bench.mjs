// Wake-up lateness of a 1 s durable sleep: how long after its due time a sleeping workflow runs
// again. 50 workflows each sleep 1 s (starts 20 ms apart) on the fs store with one worker, at the
// default pollIntervalMs (1 s) and at 100 ms; the workflow leaves the worker while it sleeps (the
// worker wakes itself for sleeps it suspended that end within a poll interval).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileWorkflowStore } from '@durable/fs';
import { quantile } from './support/stats.mjs';

const { LidexClient } = await import('@durable/workflow/lidex');

const WORKFLOWS = Number(process.env.BENCH_SLEEPERS ?? 50);

for (const pollIntervalMs of [1000, 100]) {
  const root = mkdtempSync(join(tmpdir(), 'durable-bench-sleep-'));
  const client = new LidexClient({
    store: new FileWorkflowStore({ root }),
    pollIntervalMs,
    concurrency: 20,
    handlers: {
      nap: async (ctx) => {
        const due = await ctx.step('due', () => Date.now() + 1000);
        await ctx.sleepUntil('nap', due);
        return ctx.step('late', () => Date.now() - due);
      },
    },
  });
  const worker = client.poll();
  for (let i = 0; i < WORKFLOWS; i++) {
    await client.start(`s-${i}`, 'nap');
    await new Promise((r) => setTimeout(r, 20));
  }
  const lateness = [];
  for (let i = 0; i < WORKFLOWS; i++)
    lateness.push((await client.wait(`s-${i}`, ['completed'], 1000, 20)).result);
  await worker.stop();
  rmSync(root, { recursive: true, force: true });
  console.log(
    `1 s sleep, pollIntervalMs ${pollIntervalMs}, ${WORKFLOWS} workflows: lateness p50 ${quantile(
      lateness,
      0.5,
    )} ms, p99 ${quantile(lateness, 0.99)} ms, max ${Math.max(...lateness)} ms`,
  );
}
