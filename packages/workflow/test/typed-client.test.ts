import { DurableError, MemoryWorkflowStore } from '@durable/core';
import type { WorkflowStore } from '@durable/core';
import { expectDurableError } from '@durable/testkit';
import type { AnyWorkflow, WorkflowClientOptions } from '../src/index.js';
import { WorkflowClient, defineWorkflow } from '../src/index.js';

// The typed API: definitions with their types, handles with id/result/status/cancel/signal.

interface Invoice {
  account: string;
  amount: number;
}

const collect = defineWorkflow('collectPayment', async (ctx, input: Invoice) => {
  const reference = await ctx.step('capture', () => `ch_${input.account}_${input.amount}`);
  return { status: 'paid' as const, reference };
});
const order = defineWorkflow('order', async (ctx, input: { orderId: number }) => {
  const paid = await ctx.child(collect, `pay-${input.orderId}`, {
    account: 'acme',
    amount: input.orderId,
  });
  await ctx.start(audit, `audit-${input.orderId}`);
  return `order ${input.orderId}: ${paid.reference}`;
});
const audit = defineWorkflow('audit', async (ctx) => ctx.workflowId);
const approval = defineWorkflow('approval', async (ctx) => {
  const answer = await ctx.waitForEvent<{ by: string }>('approved', { timeoutMs: 60_000 });
  return answer.received ? answer.payload.by : 'nobody';
});
const broken = defineWorkflow('broken', async () => {
  throw new Error('card declined');
});
const all = [collect, order, audit, approval, broken];

function client<W extends AnyWorkflow>(
  workflows: W[],
  options: Partial<WorkflowClientOptions> = {},
): WorkflowClient<W> {
  return new WorkflowClient({
    store: new MemoryWorkflowStore(),
    pollIntervalMs: 5,
    retryIntervalMs: 0,
    maxFailures: 1,
    onError: () => undefined,
    ...options,
    workflows,
  });
}

describe('typed workflows', () => {
  it('start returns a handle whose result() waits for the typed result', async () => {
    const c = client(all);
    const handle = await c.start(collect, 'pay-1', { account: 'acme', amount: 42 });
    expect(handle.id).toBe('pay-1');
    expect(handle.workflow).toBe('collectPayment');
    expect(handle.created).toBe(true);
    expect(await handle.status()).toBe('ready');
    const worker = c.poll();
    try {
      expect(await handle.result()).toEqual({ status: 'paid', reference: 'ch_acme_42' });
      expect(await handle.status()).toBe('completed');
    } finally {
      await worker.stop();
    }
  });

  it('start is idempotent: the same id again gives a handle with created false and the first input kept', async () => {
    const c = client(all);
    await c.start(collect, 'pay-1', { account: 'acme', amount: 1 });
    const again = await c.start(collect, 'pay-1', { account: 'globex', amount: 2 });
    expect(again.created).toBe(false);
    await c.drain();
    expect(await again.result()).toEqual({ status: 'paid', reference: 'ch_acme_1' });
  });

  it('handle(definition, id) reaches an existing workflow: result, status, signal and cancel', async () => {
    const c = client(all);
    await c.start(approval, 'a-1');
    await c.start(approval, 'a-2');
    await c.drain();
    const first = c.handle(approval, 'a-1');
    expect(await first.status()).toBe('sleeping');
    expect(await first.signal('approved', { by: 'ada' })).toBe(true);
    await c.drain();
    expect(await first.result()).toBe('ada');
    const second = c.handle(approval, 'a-2');
    expect(await second.cancel()).toBe(true);
    await expectDurableError(() => second.result(), 'CANCELLED');
    expect(await second.cancel()).toBe(false);
    expect(await c.handle(approval, 'absent').status()).toBeUndefined();
    await expectDurableError(() => c.handle(approval, 'absent').result(), 'NOT_FOUND');
  });

  it('ctx.child and ctx.start take definitions: the child result flows back typed', async () => {
    const c = client(all);
    const handle = await c.start(order, 'o-7', { orderId: 7 });
    await c.drain();
    expect(await handle.result()).toBe('order 7: ch_acme_7');
    expect(await c.handle(audit, 'audit-7').result()).toBe('audit-7');
    expect((await c.get('pay-7'))?.parentId).toBe('o-7');
  });

  it('a failed workflow: result() rejects WORKFLOW_FAILED with the stored error', async () => {
    const c = client(all);
    const handle = await c.start(broken, 'b-1');
    await c.drain();
    const error = await expectDurableError(() => handle.result(), 'WORKFLOW_FAILED');
    expect(error.message).toMatch(/card declined/);
  });

  it('result({ timeoutMs }) rejects NOT_FINISHED when no worker runs it', async () => {
    const c = client(all, { concurrency: 0 });
    const handle = await c.start(audit, 'never-run');
    const error = await expectDurableError(
      () => handle.result({ timeoutMs: 30, pollIntervalMs: 5 }),
      'NOT_FINISHED',
    );
    expect(error.message).toMatch(/never claimed/);
  });

  it('an id used by another workflow is WORKFLOW_CONFLICT, for start and for a handle of the wrong definition', async () => {
    const c = client(all);
    await c.start(audit, 'shared');
    await expectDurableError(
      () => c.start(collect, 'shared', { account: 'a', amount: 1 }),
      'WORKFLOW_CONFLICT',
    );
    await expectDurableError(() => c.handle(collect, 'shared').status(), 'WORKFLOW_CONFLICT');
    await expectDurableError(() => c.handle(collect, 'shared').cancel(), 'WORKFLOW_CONFLICT');
    expect(await c.handle(audit, 'shared').status()).toBe('ready');
  });

  it('from plain JavaScript: an unregistered definition is HANDLER_UNKNOWN, a name string is CONFIG pointing at the Lidex client', async () => {
    const c = client([collect]);
    const stranger = defineWorkflow('stranger', async () => 1);
    await expectDurableError(
      () => c.start(stranger as never, 's-1', undefined as never),
      'HANDLER_UNKNOWN',
    );
    const error = await expectDurableError(
      () => c.start('collectPayment' as never, 's-2', { account: 'a', amount: 1 } as never),
      'CONFIG',
    );
    expect(error.message).toMatch(/@durable\/workflow\/lidex/);
    expect(await c.get('s-1')).toBeUndefined();
  });

  it("the client refuses duplicate names, non-definitions and Lidex's handlers option with CONFIG", async () => {
    const store: WorkflowStore = new MemoryWorkflowStore();
    const twin = defineWorkflow('collectPayment', async () => 2);
    await expectDurableError(
      async () => new WorkflowClient({ store, workflows: [collect, twin] }),
      'CONFIG',
    );
    await expectDurableError(
      async () => new WorkflowClient({ store, workflows: [() => 1] as never }),
      'CONFIG',
    );
    const renamed = await expectDurableError(
      async () => new WorkflowClient({ store, handlers: {} } as never),
      'CONFIG',
    );
    expect(renamed.message).toMatch(/workflows/);
    expect(() => defineWorkflow('', async () => 1)).toThrow(DurableError);
  });
});
