import { MemoryWorkflowStore } from '@durable/core';
import { NonRetryableError, WorkflowClient, defineWorkflow } from '../src/index.js';

// Logs with no OpenTelemetry SDK registered (this file registers none) and a logger that wants no
// debug events: the engine then tracks no step (one observation per run, reused step by step),
// and each warn event still names its own step.
type Logged = { level: string; details: Record<string, unknown>; message: string };

describe('workflow logs without spans or debug', () => {
  it("a logger without debug still gets each step retried and failed with that step's id and position", async () => {
    let tries = 0;
    const steps = defineWorkflow('steps', async (ctx) => {
      await ctx.step('a', () => 1);
      await ctx.step(
        'b',
        () => {
          tries += 1;
          if (tries === 1) throw new Error('flaky');
          return 2;
        },
        { retries: 1, retryIntervalMs: 0 },
      );
      await ctx.step('c', () => {
        throw new NonRetryableError('broken');
      });
    });
    const logged: Logged[] = [];
    const at = (level: string) => (details: Record<string, unknown>, message: string) =>
      void logged.push({ level, details, message });
    const logger = {
      level: 'info',
      debug: at('debug'),
      info: at('info'),
      warn: at('warn'),
      error: at('error'),
    };
    const client = new WorkflowClient({
      store: new MemoryWorkflowStore(),
      workflows: [steps],
      logger,
      pollIntervalMs: 0,
      onError: () => undefined,
    });
    await client.start(steps, 's-1');
    await client.drain();
    expect(logged.map((l) => `${l.level} ${l.message}`)).toEqual([
      'info workflow s-1 started',
      'info workflow s-1 claimed',
      'warn workflow s-1: step b retried (attempt 2): flaky',
      'warn workflow s-1: step c failed: broken',
      'error workflow s-1 aborted',
    ]);
    expect(logged[3]?.details).toMatchObject({ stepId: 'c', stepIndex: 2, stepAttempts: 1 });
  });
});
