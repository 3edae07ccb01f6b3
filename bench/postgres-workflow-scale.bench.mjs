// How @durable/postgres's workflow store scales, on a PostgreSQL 15 started by the bench (default
// durability: fsync and synchronous_commit on):
// 1. Claims as sleeping workflows pile up: N = 100 and 100,000 workflows not due for a day (set
//    up with insertMany, not measured), each N in its own tables. Interleaved rounds on a fresh
//    store: an empty claim (nothing due: what every idle poll pays) and a due claim (one due
//    workflow inserted, its claim timed, then finished). Target: 100,000 <= 2x 100.
// 2. Step growth: two workflows run by the engine, one with GROWTH_STEPS - 10 steps recorded and
//    one with 10, take turns, TIMED steps each, one in flight (support/step-growth.mjs): step
//    ~1,000 against step ~10 in the same seconds (timing steps 1-20 and then the last 20 of one
//    workflow, seconds apart, let fsync's drift show as growth). Target: step 1,000 <= 1.5x step 10.
// Usage: node bench/postgres-workflow-scale.bench.mjs   (SCALES=100,100000 ROUNDS=3 CLAIMS=10
//        GROWTH_STEPS=1000 GROWTH_ROUNDS=3 TIMED=40 PARTS=claims,growth; DATABASE_URL for your own server)
import { execFileSync } from 'node:child_process';
import { median } from './support/stats.mjs';
import { stepGrowth } from './support/step-growth.mjs';
import { startPostgres } from './support/postgres.mjs';

const { PostgresWorkflowStore } = await import('@durable/postgres');
const { LidexClient } = await import('@durable/workflow/lidex');

const SCALES = (process.env.SCALES ?? '100,100000').split(',').map(Number);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const CLAIMS = Number(process.env.CLAIMS ?? 10);
const GROWTH_STEPS = Number(process.env.GROWTH_STEPS ?? 1000);
const GROWTH_ROUNDS = Number(process.env.GROWTH_ROUNDS ?? 3);
const TIMED = Number(process.env.TIMED ?? 40);
const PARTS = (process.env.PARTS ?? 'claims,growth').split(',');
const DAY = 86_400_000;
const BATCH = 1000;

const uptime = () => execFileSync('uptime').toString().trim();
const range = (list) =>
  `${median(list).toFixed(2)} (${Math.min(...list).toFixed(2)}–${Math.max(...list).toFixed(2)})`;

const server = await startPostgres();
const url = server.url('postgres');
console.log(`${server.version}; ${uptime()}`);
try {
  if (PARTS.includes('claims')) {
    console.log(
      `claim cost with N sleeping workflows, ${ROUNDS} interleaved rounds of ${CLAIMS} claims each`,
    );
    const sets = [];
    for (const n of SCALES) {
      const tablePrefix = `scale${n}_`;
      const store = new PostgresWorkflowStore({ connectionString: url, tablePrefix });
      const started = performance.now();
      const runAt = Date.now() + DAY;
      for (let from = 0; from < n; from += BATCH) {
        const batch = [];
        for (let i = from; i < Math.min(n, from + BATCH); i++)
          batch.push({ id: `sleeper-${i}`, handler: 'h', runAt });
        await store.insertMany(batch);
      }
      await store.close();
      console.log(`  setup N=${n}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
      sets.push({ n, tablePrefix, results: [] });
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const set of round % 2 === 0 ? sets : [...sets].reverse()) {
        const store = new PostgresWorkflowStore({
          connectionString: url,
          tablePrefix: set.tablePrefix,
        });
        await store.claim({ leaseMs: 60_000 }); // connect and prepare outside the timing
        const empty = [];
        const due = [];
        for (let i = 0; i < CLAIMS; i++) {
          let t = performance.now();
          if ((await store.claim({ leaseMs: 60_000 })) !== undefined)
            throw new Error('a sleeper was claimed');
          empty.push(performance.now() - t);
          const id = `due-${round}-${i}`;
          await store.insert({ id, handler: 'h' });
          t = performance.now();
          const claimed = await store.claim({ leaseMs: 60_000 });
          due.push(performance.now() - t);
          if (claimed?.record.id !== id)
            throw new Error(`claimed ${claimed?.record.id} instead of ${id}`);
          await store.finish(id, claimed.token, { status: 'completed' });
        }
        await store.close();
        set.results.push({ empty: median(empty), due: median(due) });
      }
    }
    for (const set of sets) {
      console.log(
        `  N=${String(set.n).padStart(6)}: empty claim ${range(
          set.results.map((r) => r.empty),
        )} ms, due claim ${range(set.results.map((r) => r.due))} ms (median of rounds' medians, range)`,
      );
    }
    const [small, large] = [sets[0], sets[sets.length - 1]];
    const ratios = (kind) =>
      small.results.map((r, i) => (large.results[i][kind] / r[kind]).toFixed(2)).join(' / ');
    console.log(
      `  N=${large.n} / N=${small.n} per round: empty ${ratios('empty')}x, due ${ratios(
        'due',
      )}x (target <= 2)`,
    );
  }
  if (PARTS.includes('growth')) {
    console.log(
      `step growth: workflow "long" records ${GROWTH_STEPS - 10} steps and "short" 10, untimed; then` +
        ` they take turns, one step each, ${TIMED} times: step ${GROWTH_STEPS} against step 10, one` +
        ` step in flight, ${GROWTH_ROUNDS} rounds (each on fresh tables)`,
    );
    const ratios = [];
    for (let round = 0; round < GROWTH_ROUNDS; round++) {
      const store = new PostgresWorkflowStore({
        connectionString: url,
        tablePrefix: `growth${round}_`,
      });
      const { early, late } = await stepGrowth((handlers) => new LidexClient({ store, handlers }), {
        total: GROWTH_STEPS,
        timed: TIMED,
      }).finally(() => store.close());
      ratios.push(late / early);
      console.log(
        `  round ${round + 1}: step 10 ${early.toFixed(3)} ms, step ${GROWTH_STEPS} ${late.toFixed(
          3,
        )} ms (medians of ${TIMED}): ${(late / early).toFixed(2)}x`,
      );
    }
    console.log(
      `  step ${GROWTH_STEPS} / step 10: ${ratios.map((r) => r.toFixed(2)).join(' / ')}x (target <= 1.5)`,
    );
  }
} finally {
  await server.stop();
}
console.log(`  ${uptime()}`);
