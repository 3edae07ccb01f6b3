// Lateness of a 1 s orchestration timer: how long after its deadline a timer worker delivers it
// (its events published). 50 orchestrations each wait 1 s (`after: 1000`), started 20 ms apart
// on the fs backend, with a timer worker running (a) in the same process, which hears of each
// new timer at once, (b) in another process, woken by the storage's watch of the due index, and
// (c) in another process with the watch hidden (capabilities.watch: false), which finds them by
// polling: the baseline of (b), measured in the same run; with pollIntervalMs 1000 (as long as
// the timer: a poll sees each timer coming before its deadline) and 10000 (longer than the
// timer: only a wake-up is in time). Each published event carries the deadline as its time.
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

function optionsFor(root, watch = true) {
  const storage = new LocalFileStorageManager({ root });
  return {
    versions: [{ version: '1', logic: machine }],
    storage: watch
      ? storage
      : new Proxy(storage, {
          get: (target, name) =>
            name === 'capabilities'
              ? { ...target.capabilities, watch: false }
              : typeof target[name] === 'function'
                ? target[name].bind(target)
                : target[name],
        }),
    lock: new FileLockManager({ root }),
    onOrchestrationState: { late: () => ({ type: 'notif.late' }) },
  };
}

// The worker side: publish = record how late each event is.
function runWorker(root, pollIntervalMs, onLate, watch = true) {
  return startTimerWorker(optionsFor(root, watch), {
    pollIntervalMs,
    publish: (events) => {
      for (const event of events) onLate(Date.now() - Date.parse(event.time));
    },
  });
}

if (process.argv[2] === '--worker') {
  const [, , , root, poll, watch] = process.argv;
  const worker = runWorker(root, Number(poll), (late) => process.send({ late }), watch === 'watch');
  process.on('message', async () => {
    await worker.stop();
    process.exit(0);
  });
  process.send({ ready: true });
} else {
  const p50 = {};
  for (const [where, pollIntervalMs] of [
    ['same process', 1000],
    ['other process, watch', 1000],
    ['other process, polling only', 1000],
    ['other process, watch', 10_000],
    ['other process, polling only', 10_000],
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
        where.endsWith('watch') ? 'watch' : 'poll',
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
    p50[`${where} ${pollIntervalMs}`] = quantile(lateness, 0.5);
    console.log(
      `1 s timer, worker in ${where}, pollIntervalMs ${pollIntervalMs}, ${COUNT} timers: lateness p50 ${quantile(
        lateness,
        0.5,
      )} ms, p99 ${quantile(lateness, 0.99)} ms, max ${Math.max(...lateness)} ms`,
    );
  }
  for (const poll of [1000, 10_000]) {
    const ratio =
      p50[`other process, watch ${poll}`] / Math.max(1, p50[`other process, polling only ${poll}`]);
    console.log(
      `p50 lateness of another process's timers, watch / polling only (pollIntervalMs ${poll}): ${ratio.toFixed(2)}`,
    );
  }
}
