// Runs the collect-payment workflow on local files with two worker processes: worker A is
// SIGKILLed in the middle of the run, worker B takes over, and the ledger shows that no
// finished step (no captured payment) ran twice.
import { fork } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileWorkflowStore } from '@durable/fs';
import { WorkflowClient } from '@durable/workflow';
import { DAY_MS, createPaymentApi, defineCollectPayment } from './payments.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const root = join(here, '.durable-data');
const ledger = join(root, 'ledger.txt');
const options = { timeoutIntervalMs: 600, pollIntervalMs: 50, retryIntervalMs: 200 };

if (process.argv[2] === 'worker') {
  const collectPayment = defineCollectPayment(createPaymentApi(ledger));
  const client = new WorkflowClient({
    store: new FileWorkflowStore({ root }),
    workflows: [collectPayment],
    ...options,
  });
  const worker = client.poll();
  process.on('SIGTERM', () => worker.stop().then(() => process.exit(0)));
  process.send?.('ready');
} else {
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  writeFileSync(ledger, '');
  // This process only starts workflows (concurrency 0): the definition gives `start` its name and types.
  const collectPayment = defineCollectPayment(createPaymentApi(ledger));
  const client = new WorkflowClient({
    store: new FileWorkflowStore({ root }),
    workflows: [collectPayment],
    concurrency: 0,
    ...options,
  });
  const orders = {
    'order-1': 'acme',
    'order-2': 'globex',
    'order-3': 'initech',
    'order-4': 'umbrella',
  };
  const handles = {};
  for (const [id, account] of Object.entries(orders))
    handles[id] = await client.start(collectPayment, id, { account, amount: 42 });
  console.log(
    `started ${
      Object.keys(orders).length
    } collect-payment workflows (a "day" between tries is ${DAY_MS} ms here)`,
  );

  const start = () =>
    new Promise((resolve) => {
      const child = fork(fileURLToPath(import.meta.url), ['worker'], { stdio: 'inherit' });
      child.once('message', () => resolve(child));
    });
  const ledgerLines = () => readFileSync(ledger, 'utf8').split('\n').filter(Boolean);

  const a = await start();
  console.log(`worker A (pid ${a.pid}) is running them`);
  while (ledgerLines().length < 4) await new Promise((r) => setTimeout(r, 20));
  a.kill('SIGKILL');
  const seenByA = ledgerLines().length;
  console.log(`worker A SIGKILLed after ${seenByA} payment-API calls, mid-run`);

  const b = await start();
  console.log(
    `worker B (pid ${b.pid}) takes over (A's leases expire after ${options.timeoutIntervalMs} ms)`,
  );
  const results = {};
  for (const id of Object.keys(orders)) {
    results[id] = await handles[id]
      .result({ timeoutMs: 20_000, pollIntervalMs: 50 })
      .catch((error) => `${error.code}: ${error.message}`);
  }
  b.kill('SIGTERM');

  console.log('\nledger (every call the payment provider saw):');
  const lines = ledgerLines();
  for (const line of lines) console.log(`  ${line}`);
  const calls = new Map();
  for (const line of lines) {
    const [wf, step] = line.split(' ');
    const pid = Number(line.slice(line.lastIndexOf('pid=') + 4));
    calls.set(`${wf} ${step}`, [...(calls.get(`${wf} ${step}`) ?? []), pid]);
  }
  const repeated = [...calls].filter(([, pids]) => pids.length > 1).map(([k]) => k);
  // A repeat is fine only where A was killed in the middle of the step (before it was recorded).
  const badRepeats = [...calls]
    .filter(([, pids]) => pids.slice(0, -1).some((pid) => pid !== a.pid))
    .map(([k]) => k);
  console.log('\nresults:');
  for (const [id, result] of Object.entries(results))
    console.log(`  ${id} (${orders[id]}): ${JSON.stringify(result)}`);
  console.log(
    repeated.length === 0
      ? '\nno step ran twice: worker B resumed each workflow after its last recorded step'
      : `\nrepeated only the step(s) A was killed in the middle of (called, not yet recorded): ${repeated.join(
          ', ',
        )}`,
  );
  const expected = {
    'order-1': 'paid',
    'order-2': 'blocked',
    'order-3': 'paid',
    'order-4': 'paid',
  };
  const wrong = Object.entries(expected).filter(([id, status]) => results[id]?.status !== status);
  if (wrong.length > 0 || badRepeats.length > 0) {
    console.error('unexpected outcome', { wrong, badRepeats });
    process.exit(1);
  }
}
