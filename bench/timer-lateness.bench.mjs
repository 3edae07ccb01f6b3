// Lateness of a 1 s orchestration timer: how long after its deadline a timer worker delivers it
// (its events published). 50 orchestrations each wait 1 s (`after: 1000`), started 20 ms apart
// on the fs backend, with a timer worker running (a) in the same process, which hears of each
// new timer at once, and (b) in another process, which finds them by polling
// (pollIntervalMs 1000, then 100). Each published event carries the deadline as its time.
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { orchestrateCloudEvents, startTimerWorker } from '@durable/core/orchestrator';
import { FileLockManager, LocalFileStorageManager } from '@durable/fs';
import { setup } from 'xstate';
import { quantile } from './support/stats.mjs';

const COUNT = Number(process.env.BENCH_TIMERS ?? 50);

const machine = setup({}).createMachine({
  id: 'wait',
  initial: 'waiting',
  states: { waiting: { after: { 1000: 'late' } }, late: { type: 'final' } },
});

function optionsFor(root) {
  return {
    versions: [{ version: '1', logic: machine }],
    storage: new LocalFileStorageManager({ root }),
    lock: new FileLockManager({ root }),
    onOrchestrationState: { late: () => ({ type: 'notif.late' }) },
  };
}

// The worker side: publish = record how late each event is.
function runWorker(root, pollIntervalMs, onLate) {
  return startTimerWorker(optionsFor(root), {
    pollIntervalMs,
    publish: (events) => {
      for (const event of events) onLate(Date.now() - Date.parse(event.time));
    },
  });
}

if (process.argv[2] === '--worker') {
  const [, , , root, poll] = process.argv;
  const worker = runWorker(root, Number(poll), (late) => process.send({ late }));
  process.on('message', async () => {
    await worker.stop();
    process.exit(0);
  });
  process.send({ ready: true });
} else {
  for (const [where, pollIntervalMs] of [
    ['same process', 1000],
    ['other process', 1000],
    ['other process', 100],
  ]) {
    const root = mkdtempSync(join(tmpdir(), 'durable-bench-timer-'));
    const lateness = [];
    let stop;
    if (where === 'same process') {
      const worker = runWorker(root, pollIntervalMs, (late) => lateness.push(late));
      stop = () => worker.stop();
    } else {
      const child = fork(fileURLToPath(import.meta.url), [
        '--worker',
        root,
        String(pollIntervalMs),
      ]);
      await new Promise((resolve) => child.on('message', (m) => m.ready && resolve()));
      child.on('message', (m) => m.late !== undefined && lateness.push(m.late));
      stop = () => new Promise((resolve) => (child.send('stop'), child.on('exit', resolve)));
    }
    const options = optionsFor(root);
    for (let i = 0; i < COUNT; i++) {
      await orchestrateCloudEvents(options, [], [{ subject: `t${i}` }]);
      await new Promise((r) => setTimeout(r, 20));
    }
    while (lateness.length < COUNT) await new Promise((r) => setTimeout(r, 50));
    await stop();
    rmSync(root, { recursive: true, force: true });
    console.log(
      `1 s timer, worker in ${where}, pollIntervalMs ${pollIntervalMs}, ${COUNT} timers: lateness p50 ${quantile(
        lateness,
        0.5,
      )} ms, p99 ${quantile(lateness, 0.99)} ms, max ${Math.max(...lateness)} ms`,
    );
  }
}
