// Compile-time tests of the typed API, checked by `pnpm typecheck` (tsc over src and test), never
// run: each `@ts-expect-error` line must stay an error (tsc fails when one compiles), and every
// other line must compile.
import { MemoryWorkflowStore } from '@durable/core';
import type { WorkflowHandle, WorkflowResult } from '../src/index.js';
import { NonRetryableError, WorkflowClient, defineWorkflow } from '../src/index.js';
import type { LidexContext, LidexStatus } from '../src/lidex/index.js';
import { makeClient } from '../src/lidex/index.js';

interface Invoice {
  account: string;
  amount: number;
}

const collect = defineWorkflow('collectPayment', async (ctx, input: Invoice) => {
  const charge = await ctx.step('capture', () => ({ ok: true, reference: `ch_${input.account}` }), { retries: 3, retryIntervalMs: 10, backoff: 2, timeoutMs: 5000 });
  // @ts-expect-error the step's result is typed: no such field
  void charge.missing;
  // @ts-expect-error an unknown policy option
  await ctx.step('bad', () => 1, { retry: 3 });
  if (!charge.ok) throw new NonRetryableError('declined');
  return { status: 'paid' as const, reference: charge.reference };
});
const ship = defineWorkflow('ship', async (ctx, input: { orderId: number }) => {
  const paid = await ctx.child(collect, `pay-${input.orderId}`, { account: 'acme', amount: 1 });
  const status: 'paid' = paid.status;
  // @ts-expect-error a child's input is checked too
  await ctx.child(collect, 'pay-x', { account: 'acme' });
  await ctx.start(tick, 'tick-1');
  return status;
});
const tick = defineWorkflow('tick', async (ctx) => ctx.workflowId.length);
const other = defineWorkflow('other', async (_ctx, input: Invoice) => input.amount);

export async function typedClientChecks(): Promise<void> {
  const client = new WorkflowClient({ store: new MemoryWorkflowStore(), workflows: [collect, ship, tick] });

  const handle = await client.start(collect, 'pay-1', { account: 'acme', amount: 42 });
  const result: { status: 'paid'; reference: string } = await handle.result();
  const created: boolean = handle.created;
  const shipped: 'paid' = await (await client.start(ship, 'ship-1', { orderId: 1 })).result();
  const ticks: number = await (await client.start(tick, 'tick-2')).result();
  await client.start(collect, 'pay-2', { account: 'acme', amount: 1 }, { runAt: new Date() });
  const again: WorkflowHandle<WorkflowResult<typeof collect>> = client.handle(collect, 'pay-1');
  await again.status();
  await again.signal('approved', { by: 'me' });
  await again.cancel();
  void [result, created, shipped, ticks];

  const [paid, tock] = await client.startMany([
    { workflow: collect, id: 'pay-6', input: { account: 'acme', amount: 3 } },
    { workflow: tick, id: 'tick-3' },
  ]);
  const paidResult: { status: 'paid'; reference: string } = await paid.result();
  const tockResult: number = await tock.result();
  void [paidResult, tockResult];
  // @ts-expect-error startMany checks each entry's input against its own workflow
  await client.startMany([{ workflow: ship, id: 'ship-3', input: { orderId: 'x' } }]);
  // @ts-expect-error startMany: the input is required where the workflow takes one
  await client.startMany([{ workflow: collect, id: 'pay-7' }]);

  // @ts-expect-error a workflow this client was not created with (a wrong name)
  await client.start(other, 'o-1', { account: 'acme', amount: 1 });
  // @ts-expect-error a handler name: the typed client takes definitions
  await client.start('collectPayment', 'pay-3', { account: 'acme', amount: 1 });
  // @ts-expect-error a wrong input: amount missing
  await client.start(collect, 'pay-4', { account: 'acme' });
  // @ts-expect-error a wrong input: a string for a number
  await client.start(ship, 'ship-2', { orderId: '1' });
  // @ts-expect-error the input is required
  await client.start(collect, 'pay-5');
  // @ts-expect-error the result is typed: no such field
  void (await handle.result()).missing;
  // @ts-expect-error handle() of an unregistered workflow
  client.handle(other, 'o-1');
}

export async function lidexChecks(): Promise<void> {
  const handlers = new Map([['greet', async (ctx: LidexContext, name: string) => ctx.step('hello', () => `hello ${name}`)]]);
  const client = await makeClient({ store: new MemoryWorkflowStore(), handlers });
  const started: boolean = await client.start('g-1', 'greet', 'ada');
  const finished: LidexStatus = 'finished';
  const record = await client.wait('g-1', [finished], 10, 100);
  void [started, record?.result];
}
