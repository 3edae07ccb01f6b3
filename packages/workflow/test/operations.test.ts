import { MemoryWorkflowStore } from '@durable/core';
import type { WorkflowStore } from '@durable/core';
import { expectDurableError } from '@durable/testkit';
import {
  NonRetryableError,
  WorkflowClient,
  defineWorkflow,
  iterateWorkflows,
} from '../src/index.js';

// The operator's side of the typed client: list, counts and resume (DBOS's resume).

describe('client.list, counts and resume', () => {
  it('a resumed aborted workflow runs again from its failed step: recorded steps are not re-run', async () => {
    const ran = { reserve: 0, charge: 0, ship: 0 };
    let cardWorks = false;
    const order = defineWorkflow('order', async (ctx, input: { id: number }) => {
      const reservation = await ctx.step('reserve', () => {
        ran.reserve += 1;
        return `r-${input.id}-${ran.reserve}`;
      });
      await ctx.step('charge', () => {
        ran.charge += 1;
        if (!cardWorks) throw new NonRetryableError('card declined');
        return 'charged';
      });
      await ctx.sleep('cool-off', 0);
      const shipped = await ctx.step('ship', () => {
        ran.ship += 1;
        return 'shipped';
      });
      return `${reservation} ${shipped}`;
    });
    const client = new WorkflowClient({
      store: new MemoryWorkflowStore(),
      workflows: [order],
      pollIntervalMs: 0,
      retryIntervalMs: 0,
      onError: () => undefined,
    });
    await client.start(order, 'o-1', { id: 1 });
    await client.drain();
    expect((await client.get('o-1'))?.status).toBe('aborted');
    expect(ran).toEqual({ reserve: 1, charge: 1, ship: 0 });
    expect(await client.counts()).toMatchObject({ aborted: 1, completed: 0 });

    cardWorks = true;
    expect(await client.resume('o-1')).toBe(true);
    expect(await client.resume('o-1')).toBe(false);
    await client.drain();
    const record = await client.get('o-1');
    expect(record?.status).toBe('completed');
    expect(record?.result).toBe('r-1-1 shipped');
    expect(ran).toEqual({ reserve: 1, charge: 2, ship: 1 });
    expect(await client.resume('o-1')).toBe(false);
    expect(await client.counts()).toMatchObject({ aborted: 0, completed: 1 });
  });

  it('a cancelled workflow that had slept resumes and finishes without re-running its recorded step', async () => {
    let now = 1_000;
    const ran: string[] = [];
    const slow = defineWorkflow('slow', async (ctx) => {
      await ctx.step('first', () => ran.push('first'));
      await ctx.sleep('wait', 60_000);
      await ctx.step('second', () => ran.push('second'));
      return 'done';
    });
    const client = new WorkflowClient({
      store: new MemoryWorkflowStore({ clock: () => now }),
      clock: () => now,
      workflows: [slow],
      pollIntervalMs: 0,
      onError: () => undefined,
    });
    const handle = await client.start(slow, 's-1');
    await client.drain();
    expect(await handle.status()).toBe('sleeping');
    expect(await handle.cancel()).toBe(true);
    expect(await client.resume('s-1')).toBe(true);
    now += 60_000;
    await client.drain();
    expect(await handle.result()).toBe('done');
    expect(ran).toEqual(['first', 'second']);
  });

  it('list pages the workflows with filters; iterateWorkflows walks every page', async () => {
    const noop = defineWorkflow('noop', async () => 1);
    const other = defineWorkflow('other', async () => 2);
    let now = 5_000;
    const store = new MemoryWorkflowStore({ clock: () => now });
    const client = new WorkflowClient({
      store,
      clock: () => now,
      workflows: [noop, other],
      concurrency: 0,
    });
    for (let i = 0; i < 5; i++) {
      now += 1;
      await client.start(i % 2 === 0 ? noop : other, `w-${i}`);
    }
    const first = await client.list({ limit: 2 });
    expect(first.items.map((s) => s.id)).toEqual(['w-0', 'w-1']);
    expect(first.cursor).toBeDefined();
    const rest = await client.list({ limit: 10, cursor: first.cursor as string });
    expect(rest.items.map((s) => s.id)).toEqual(['w-2', 'w-3', 'w-4']);
    expect((await client.list({ handler: 'other', order: 'desc' })).items.map((s) => s.id)).toEqual(
      ['w-3', 'w-1'],
    );
    expect((await client.list()).items).toHaveLength(5);
    const pages: string[][] = [];
    for await (const page of iterateWorkflows(store, { limit: 2 }))
      pages.push(page.items.map((s) => s.id));
    expect(pages).toEqual([['w-0', 'w-1'], ['w-2', 'w-3'], ['w-4']]);
    await expectDurableError(() => client.list({ limit: 0 }), 'CONFIG');
  });

  it('a store without list, counts or resume is CONFIG naming the missing method', async () => {
    const full = new MemoryWorkflowStore();
    // A plain-JavaScript store written before list, counts and resume became required: the
    // type no longer allows it, so the cast stands for what an untyped caller can still pass.
    const old: Omit<WorkflowStore, 'list' | 'counts' | 'resume'> = {
      insert: (w) => full.insert(w),
      get: (id) => full.get(id),
      claim: (o) => full.claim(o),
      heartbeat: (...a) => full.heartbeat(...a),
      saveStep: (...a) => full.saveStep(...a),
      suspend: (...a) => full.suspend(...a),
      release: (...a) => full.release(...a),
      finish: (...a) => full.finish(...a),
      signal: (...a) => full.signal(...a),
      cancel: (id) => full.cancel(id),
    };
    const client = new WorkflowClient({ store: old as WorkflowStore, workflows: [] });
    expect((await expectDurableError(() => client.list(), 'CONFIG')).message).toMatch(
      /no list\(\)/,
    );
    expect((await expectDurableError(() => client.counts(), 'CONFIG')).message).toMatch(
      /no counts\(\)/,
    );
    expect((await expectDurableError(() => client.resume('x'), 'CONFIG')).message).toMatch(
      /no resume\(\)/,
    );
    await expectDurableError(() => client.resume(''), 'INVALID_KEY');
  });
});
