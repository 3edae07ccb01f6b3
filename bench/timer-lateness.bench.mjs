// Lateness of a 1 s orchestration timer: how long after its deadline a timer worker delivers it
// (its events published). 50 orchestrations each wait 1 s (`after: 1000`), started 20 ms apart,
// with a timer worker running (a) in the same process, which hears of each new timer at once,
// (b) in another process, woken by the storage's watch of the due index, and (c) in another
// process with the watch hidden (capabilities.watch: false), which finds them by polling: the
// baseline of (b), measured in the same run; with pollIntervalMs 1000 (as long as the timer: a
// poll sees each timer coming before its deadline) and 10000 (longer than the timer: only a
// wake-up is in time). On fs (all cases), then PostgreSQL (LISTEN/NOTIFY; a throwaway cluster)
// and Redis (PUBLISH/SUBSCRIBE; a redis-server of the bench's own), (b) and (c) at 10000, each
// skipped with a line when its server is missing (BENCH_BACKENDS=fs,postgres,redis picks).
// Each published event carries the deadline as its time.
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { orchestrateCloudEvents, startTimerWorker } from '@durable/core/orchestrator';
import { FileLockManager, LocalFileStorageManager } from '@durable/fs';
import { PostgresLockManager, PostgresStorageManager } from '@durable/postgres';
import { RedisLockManager, RedisStorageManager } from '@durable/redis-lock';
import { setup } from 'xstate';
import { quantile } from './support/stats.mjs';

const COUNT = Number(process.env.BENCH_TIMERS ?? 50);

const machine = setup({}).createMachine({
  id: 'wait',
  initial: 'waiting',
  states: { waiting: { after: { 1000: 'late' } }, late: { type: 'final' } },
});

// The storage and lock of a backend spec: { kind: 'fs', root } | { kind: 'postgres', url,
// schema } | { kind: 'redis', url, prefix }.
function backendOf(spec) {
  if (spec.kind === 'postgres') {
    const connection = { connectionString: spec.url, schema: spec.schema };
    return {
      storage: new PostgresStorageManager(connection),
      lock: new PostgresLockManager(connection),
    };
  }
  if (spec.kind === 'redis') {
    return {
      storage: new RedisStorageManager({ url: spec.url, prefix: spec.prefix }),
      lock: new RedisLockManager({ url: spec.url, prefix: `${spec.prefix}lock:` }),
    };
  }
  return {
    storage: new LocalFileStorageManager({ root: spec.root }),
    lock: new FileLockManager({ root: spec.root }),
  };
}

function optionsFor(spec, watch = true) {
  const { storage, lock } = backendOf(spec);
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
    lock,
    onOrchestrationState: { late: () => ({ type: 'notif.late' }) },
  };
}

// The worker side: publish = record how late each event is. `onReady` after its first run, so
// the timers are saved after it: a poll that saw one coming (its first run slowed by a cold
// connection) would chain from deadline to deadline and hide what polling alone costs.
function runWorker(spec, pollIntervalMs, onLate, watch = true, onReady = () => {}) {
  let runs = 0;
  return startTimerWorker(optionsFor(spec, watch), {
    pollIntervalMs,
    publish: (events) => {
      for (const event of events) onLate(Date.now() - Date.parse(event.time));
    },
    onRun: () => {
      runs += 1;
      if (runs === 1) onReady();
    },
  });
}

if (process.argv[2] === '--worker') {
  const [, , , spec, poll, watch] = process.argv;
  const worker = runWorker(
    JSON.parse(spec),
    Number(poll),
    (late) => process.send({ late }),
    watch === 'watch',
    () => process.send({ ready: true }),
  );
  process.on('message', async () => {
    await worker.stop();
    process.exit(0);
  });
} else {
  const wanted = (process.env.BENCH_BACKENDS ?? 'fs,postgres,redis').split(',');
  const servers = [];
  const backends = [];
  if (wanted.includes('fs')) backends.push(['fs', undefined]);
  if (wanted.includes('postgres')) {
    try {
      const { startPostgres } = await import('./support/postgres.mjs');
      const server = await startPostgres();
      servers.push(server);
      backends.push(['postgres', server.url('postgres')]);
    } catch (error) {
      console.log(`postgres skipped: ${error.message}`);
    }
  }
  if (wanted.includes('redis')) {
    try {
      const { startRedis } = await import('./support/redis-server.mjs');
      const server = await startRedis();
      servers.push(server);
      backends.push(['redis', server.url]);
    } catch (error) {
      console.log(`redis skipped: ${error.message}`);
    }
  }
  const p50 = {};
  let n = 0;
  for (const [backend, url] of backends) {
    const cases =
      backend === 'fs'
        ? [
            ['same process', 1000],
            ['other process, watch', 1000],
            ['other process, polling only', 1000],
            ['other process, watch', 10_000],
            ['other process, polling only', 10_000],
          ]
        : [
            ['other process, watch', 10_000],
            ['other process, polling only', 10_000],
          ];
    for (const [where, pollIntervalMs] of cases) {
      n += 1;
      const root = backend === 'fs' ? mkdtempSync(join(tmpdir(), 'durable-bench-timer-')) : '';
      const spec =
        backend === 'postgres'
          ? { kind: 'postgres', url, schema: `bench_timer_${process.pid}_${n}` }
          : backend === 'redis'
            ? { kind: 'redis', url, prefix: `bench-timer-${process.pid}-${n}:` }
            : { kind: 'fs', root };
      const lateness = [];
      let stop;
      if (where === 'same process') {
        let ready;
        const first = new Promise((resolve) => (ready = resolve));
        const worker = runWorker(spec, pollIntervalMs, (late) => lateness.push(late), true, ready);
        await first;
        stop = () => worker.stop();
      } else {
        const child = fork(fileURLToPath(import.meta.url), [
          '--worker',
          JSON.stringify(spec),
          String(pollIntervalMs),
          where.endsWith('watch') ? 'watch' : 'poll',
        ]);
        await new Promise((resolve) => child.on('message', (m) => m.ready && resolve()));
        child.on('message', (m) => m.late !== undefined && lateness.push(m.late));
        stop = () => new Promise((resolve) => (child.send('stop'), child.on('exit', resolve)));
      }
      const options = optionsFor(spec);
      for (let i = 0; i < COUNT; i++) {
        await orchestrateCloudEvents(options, [], [{ subject: `t${i}` }]);
        await new Promise((r) => setTimeout(r, 20));
      }
      while (lateness.length < COUNT) await new Promise((r) => setTimeout(r, 50));
      await stop();
      await options.lock.close?.();
      await options.storage.close?.();
      if (root !== '') rmSync(root, { recursive: true, force: true });
      p50[`${backend} ${where} ${pollIntervalMs}`] = quantile(lateness, 0.5);
      console.log(
        `${backend}: 1 s timer, worker in ${where}, pollIntervalMs ${pollIntervalMs}, ${COUNT} timers: lateness p50 ${quantile(
          lateness,
          0.5,
        )} ms, p99 ${quantile(lateness, 0.99)} ms, max ${Math.max(...lateness)} ms`,
      );
    }
    for (const poll of backend === 'fs' ? [1000, 10_000] : [10_000]) {
      const ratio =
        p50[`${backend} other process, watch ${poll}`] /
        Math.max(1, p50[`${backend} other process, polling only ${poll}`]);
      console.log(
        `${backend}: p50 lateness of another process's timers, watch / polling only (pollIntervalMs ${poll}): ${ratio.toFixed(3)}`,
      );
    }
  }
  for (const server of servers) await server.stop();
}
