// The collect-payment workflow of the Lidex README, with a fake payment API whose every call is
// a line in a ledger file (the side effects a real payment provider would see).
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { defineWorkflow } from '@durable/workflow';

/** "A day" between tries; scaled down so the demo runs in seconds. */
export const DAY_MS = Number(process.env.DEMO_DAY_MS ?? 400);

/** A fake payment provider: some cards are declined a few times, one always. */
export function createPaymentApi(ledger) {
  const declines = { acme: 1, globex: Infinity, initech: 0, umbrella: 2 };
  return {
    async capture(workflowId, account, amount, attempt) {
      await sleep(150); // a slow network call: a good moment for a crash
      // Whether it succeeds depends on the attempt number (recorded by the workflow), not on
      // how many times this process called: a restarted worker sees the same answers.
      const ok = attempt > (declines[account] ?? 0);
      appendFileSync(
        ledger,
        `${workflowId} capture-${attempt} ${ok ? 'captured' : 'declined'} ${amount} pid=${
          process.pid
        }\n`,
      );
      return { ok, reference: ok ? `ch_${account}_${attempt}` : undefined };
    },
    async blockAccount(workflowId, account) {
      appendFileSync(ledger, `${workflowId} block-account ${account} pid=${process.pid}\n`);
    },
    async sendReceipt(workflowId, account, reference) {
      appendFileSync(
        ledger,
        `${workflowId} send-receipt ${account} ${reference} pid=${process.pid}\n`,
      );
    },
  };
}

/**
 * The collect-payment workflow, defined once with `defineWorkflow` (its name is stored with each
 * run). The payment API is passed in, so the demo's worker processes each bring their own.
 */
export function defineCollectPayment(api) {
  return defineWorkflow('collectPayment', async (ctx, { account, amount }) => {
    for (let attempt = 1; attempt <= 3; attempt++) {
      const charge = await ctx.step(`capture-${attempt}`, () =>
        api.capture(ctx.workflowId, account, amount, attempt),
      );
      if (charge.ok) {
        // A receipt is worth a few quick retries in place before the whole run counts a failure.
        await ctx.step(
          'send-receipt',
          () => api.sendReceipt(ctx.workflowId, account, charge.reference),
          { retries: 2, retryIntervalMs: 50 },
        );
        return { status: 'paid', attempt, reference: charge.reference };
      }
      if (attempt < 3) await ctx.sleep(`wait-after-${attempt}`, DAY_MS);
    }
    await ctx.step('block-account', () => api.blockAccount(ctx.workflowId, account));
    return { status: 'blocked' };
  });
}
