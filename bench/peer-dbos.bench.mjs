// Peer bench: DBOS Transact 5.3.0 against @durable/workflow on @durable/postgres, on the same
// PostgreSQL 15 (started by the bench, default durability: fsync and synchronous_commit on), and on
// our fs and memory stores (and the fs store's floor, `fsfloor`: the bare file-system work of its
// layout, support/fs-floor.mjs), in interleaved rounds. The same 3-step workflow everywhere. Each
// measurement runs in a fresh child process on a fresh database (or folder), with default options
// on both sides (ours: concurrency 10, pollIntervalMs 1,000; `start()` wakes the local worker).
//   latency   start-to-result of one workflow at a time, LATENCY_RUNS of them: p50 / p99
//   3 steps   end-to-end throughput: start WORKFLOWS one after another in the process, run them
//             there, from the first start until every result is in
//   0 steps   the same with no step: the fixed cost of a workflow (wall ms per workflow)
//   per step  a workflow of LONG_STEPS steps and one of 0 steps, one at a time, STEP_RUNS each:
//             (median time of the long one - median of the empty one) / LONG_STEPS
// On PostgreSQL it counts the transactions each system commits per 3-step workflow (the
// database's xact_commit over the measurement / WORKFLOWS; a few dozen setup transactions of the
// process are included) and measures a floor: the same writes ours makes per workflow (an insert,
// a claim, one row per step, a finish: 6 single-statement transactions), issued with plain `pg`
// at the same concurrency, with no engine at all (for latency: one workflow at a time, plus the
// read of its result).
// `fsinsert` is the fs store with every start an insert and a claim (its insertClaimed hidden).
// Usage: node bench/peer-dbos.bench.mjs   (WORKFLOWS=2000 ROUNDS=3 SYSTEMS=dbos,pg,fs,memory MODES=latency,3,0,step
//        LATENCY_RUNS=100 LONG_STEPS=50 STEP_RUNS=10; DATABASE_URL to use a server of your own)
import { execFileSync, fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, quantile } from './support/stats.mjs';

const WORKFLOWS = Number(process.env.WORKFLOWS ?? 2000);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const SYSTEMS = (process.env.SYSTEMS ?? 'dbos,pg,fs,memory').split(',');
const MODES = (process.env.MODES ?? 'latency,3,0,step').split(',');
const LATENCY_RUNS = Number(process.env.LATENCY_RUNS ?? 100);
const LONG_STEPS = Number(process.env.LONG_STEPS ?? 50);
const STEP_RUNS = Number(process.env.STEP_RUNS ?? 10);
const ON_POSTGRES = new Set(['dbos', 'pg', 'floor']);

async function body(step, n, steps) {
  let value = n;
  for (let i = 0; i < steps; i++) value = await step(`s${i}`, async () => value + 1);
  return { total: value };
}

// The measured part starts when the parent says go; figures are sent before any cleanup.
function handshake() {
  return new Promise((resolve) => {
    process.once('message', resolve);
    process.send('ready');
  });
}

// One system's way to run a workflow of `steps` steps: start(id, n, steps) → a promise of its result.
async function setUp(system, url) {
  if (system === 'dbos') {
    const { DBOS } = await import('@dbos-inc/dbos-sdk');
    DBOS.setConfig({ name: 'durable-peer-bench', systemDatabaseUrl: url, logLevel: 'error' });
    const workflows = new Map();
    for (const steps of new Set([0, 3, LONG_STEPS])) {
      workflows.set(
        steps,
        DBOS.registerWorkflow(
          async (n) => body((name, fn) => DBOS.runStep(fn, { name }), n, steps),
          { name: `steps${steps}` },
        ),
      );
    }
    await DBOS.launch();
    return {
      start: async (id, n, steps) => {
        const handle = await DBOS.startWorkflow(workflows.get(steps), { workflowID: id })(n);
        return () => handle.getResult();
      },
      stop: () => DBOS.shutdown(),
    };
  }
  if (system === 'fsfloor') return setUpFsFloor();
  const { WorkflowClient, defineWorkflow } = await import('@durable/workflow');
  let store;
  if (system === 'pg') {
    const { PostgresWorkflowStore } = await import('@durable/postgres');
    store = new PostgresWorkflowStore({ connectionString: url });
  } else if (system === 'fs' || system === 'fsinsert') {
    const { FileWorkflowStore } = await import('@durable/fs');
    store = new FileWorkflowStore({ root: mkdtempSync(join(scratchDir(), 'fs-')) });
    // fsinsert: every start an insert that a claim then takes (as before insertClaimed existed).
    if (system === 'fsinsert') store.insertClaimed = undefined;
  } else {
    const { MemoryWorkflowStore } = await import('@durable/core');
    store = new MemoryWorkflowStore();
  }
  const workflows = new Map();
  for (const steps of new Set([0, 3, LONG_STEPS])) {
    workflows.set(
      steps,
      defineWorkflow(`steps${steps}`, (ctx, input) =>
        body((name, fn) => ctx.step(name, fn), input.n, steps),
      ),
    );
  }
  const client = new WorkflowClient({
    store,
    workflows: [...workflows.values()],
    onError: (error) => console.error(error),
  });
  const worker = client.poll();
  // Tables created before the clock starts, as DBOS's launch does.
  await store.get?.('warm-up');
  return {
    start: async (id, n, steps) => {
      const handle = await client.start(workflows.get(steps), id, { n });
      return () => handle.result();
    },
    stop: async () => {
      await worker.stop();
      await store.close?.();
    },
  };
}

// Folders of fs measurements: one folder for the whole bench, removed at its end, never between
// measurements. Deleting thousands of files makes ext4 skip their inodes as "recently deleted" for a
// minute or more when it allocates new ones (find_inode_bit -> recently_deleted, one inode table
// lookup per candidate): the next measurement's file creations then cost 2-3x the CPU, a penalty
// the previous measurement's clean-up put on it, not its own.
function scratchDir() {
  return process.env.PEER_SCRATCH ?? tmpdir();
}

// The fs store's floor: the bare file-system work of its layout per workflow (see
// support/fs-floor.mjs), no engine. start() does the insert's work (claimed), then the steps' and
// finish's work runs 10 workflows at a time (the engine's default concurrency).
async function setUpFsFloor() {
  const { floorInsert, floorRun, prepareFloor } = await import('./support/fs-floor.mjs');
  const folder = mkdtempSync(join(scratchDir(), 'fsfloor-'));
  prepareFloor(folder);
  const queue = [];
  let running = 0;
  let count = 0;
  const pump = () => {
    while (running < 10 && queue.length > 0) {
      const job = queue.shift();
      running++;
      floorRun(folder, job.i, job.steps)
        .then(job.resolve, job.reject)
        .finally(() => {
          running--;
          pump();
        });
    }
  };
  return {
    start: async (id, n, steps) => {
      const i = count++;
      await floorInsert(folder, i);
      const done = new Promise((resolve, reject) => queue.push({ i, steps, resolve, reject }));
      pump();
      return () => done.then(() => ({ total: n + steps }));
    },
    stop: async () => undefined,
  };
}

async function runChild(system, mode, url) {
  if (system === 'floor') return runFloor(url, mode);
  const sut = await setUp(system, url);
  await handshake();
  const cpu = process.cpuUsage();
  let figures;
  if (mode === 'latency') {
    const ms = [];
    for (let i = 0; i < LATENCY_RUNS; i++) {
      const started = performance.now();
      const result = await sut.start(`lat-${i}`, i, 3);
      await result();
      ms.push(performance.now() - started);
    }
    figures = { ms };
  } else if (mode === 'step') {
    const timed = async (prefix, steps) => {
      const ms = [];
      for (let i = 0; i < STEP_RUNS; i++) {
        const started = performance.now();
        await (
          await sut.start(`${prefix}-${i}`, i, steps)
        )();
        ms.push(performance.now() - started);
      }
      return median(ms);
    };
    const empty = await timed('empty', 0);
    const long = await timed('long', LONG_STEPS);
    figures = { perStepMs: (long - empty) / LONG_STEPS };
  } else {
    const steps = Number(mode);
    const started = performance.now();
    const results = [];
    for (let i = 0; i < WORKFLOWS; i++) results.push(await sut.start(`wf-${i}`, i, steps));
    const done = await Promise.all(results.map((result) => result()));
    const ms = performance.now() - started;
    if (done.length !== WORKFLOWS || done.some((r) => r?.total !== Number(r?.total)))
      throw new Error(`${system}: missing results`);
    figures = { ms };
  }
  const used = process.cpuUsage(cpu);
  await new Promise((resolve) =>
    process.send({ ...figures, cpuMs: (used.user + used.system) / 1000 }, resolve),
  );
  await sut.stop();
}

// The floor: the six single-statement transactions ours makes per 3-step workflow, on tables of
// the same shape, 10 at a time (ours' default concurrency), with plain pg and no engine.
async function runFloor(url, mode) {
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  await pool.query(
    'CREATE TABLE w (id text COLLATE "C" PRIMARY KEY, status text, due_at bigint, token text, rev bigint, record text)',
  );
  await pool.query('CREATE INDEX w_due ON w (due_at) WHERE due_at IS NOT NULL');
  await pool.query(
    'CREATE TABLE s (workflow_id text COLLATE "C", position integer, memo text, PRIMARY KEY (workflow_id, position))',
  );
  await handshake();
  const cpu = process.cpuUsage();
  const record = JSON.stringify({
    format: 1,
    handler: 'steps3',
    input: { n: 1 },
    events: [],
    steps: [],
  });
  if (mode === 'latency') {
    // One workflow at a time: the 6 statements in a row, then the read of the result.
    const ms = [];
    for (let i = 0; i < LATENCY_RUNS; i++) {
      const began = performance.now();
      const id = `lat-${i}`;
      await pool.query(
        "INSERT INTO w VALUES ($1, 'ready', $2, NULL, 0, $3) ON CONFLICT DO NOTHING",
        [id, Date.now(), record],
      );
      await pool.query(
        "WITH c AS (SELECT id FROM w WHERE due_at <= $1 ORDER BY due_at LIMIT 1 FOR UPDATE SKIP LOCKED) UPDATE w SET status = 'running', token = $2, due_at = $1 + 60000, rev = w.rev + 1 FROM c WHERE w.id = c.id RETURNING w.id",
        [Date.now(), `t${i}`],
      );
      for (let step = 0; step < 3; step++)
        await pool.query('INSERT INTO s VALUES ($1, $2, $3)', [
          id,
          step,
          JSON.stringify({ id: `s${step}`, kind: 'step', done: true, value: step, at: Date.now() }),
        ]);
      await pool.query(
        "UPDATE w SET status = 'completed', due_at = NULL, token = NULL, rev = rev + 1, record = $2 WHERE id = $1",
        [id, record],
      );
      await pool.query('SELECT record FROM w WHERE id = $1', [id]);
      ms.push(performance.now() - began);
    }
    const used = process.cpuUsage(cpu);
    await new Promise((resolve) =>
      process.send({ ms, cpuMs: (used.user + used.system) / 1000 }, resolve),
    );
    await pool.end();
    return;
  }
  const started = performance.now();
  for (let i = 0; i < WORKFLOWS; i++) {
    await pool.query("INSERT INTO w VALUES ($1, 'ready', $2, NULL, 0, $3) ON CONFLICT DO NOTHING", [
      `wf-${i}`,
      Date.now(),
      record,
    ]);
  }
  let next = 0;
  const run = async () => {
    while (next < WORKFLOWS) {
      next++;
      const claimed = await pool.query(
        "WITH c AS (SELECT id FROM w WHERE due_at <= $1 ORDER BY due_at LIMIT 1 FOR UPDATE SKIP LOCKED) UPDATE w SET status = 'running', token = $2, due_at = $1 + 60000, rev = w.rev + 1 FROM c WHERE w.id = c.id RETURNING w.id",
        [Date.now(), `t${next}`],
      );
      const id = claimed.rows[0].id;
      for (let step = 0; step < 3; step++)
        await pool.query('INSERT INTO s VALUES ($1, $2, $3)', [
          id,
          step,
          JSON.stringify({ id: `s${step}`, kind: 'step', done: true, value: step, at: Date.now() }),
        ]);
      await pool.query(
        "UPDATE w SET status = 'completed', due_at = NULL, token = NULL, rev = rev + 1, record = $2 WHERE id = $1",
        [id, record],
      );
    }
  };
  await Promise.all(Array.from({ length: 10 }, run));
  const ms = performance.now() - started;
  const used = process.cpuUsage(cpu);
  await new Promise((resolve) =>
    process.send({ ms, cpuMs: (used.user + used.system) / 1000 }, resolve),
  );
  await pool.end();
}

async function commits(admin, database) {
  const result = await admin.query('SELECT xact_commit FROM pg_stat_database WHERE datname = $1', [
    database,
  ]);
  return Number(result.rows[0]?.xact_commit ?? 0);
}

// Commits counted once the child's backends have ended and flushed their statistics.
async function settledCommits(admin, database) {
  let last = -1;
  for (let i = 0; i < 50; i++) {
    await admin.query('SELECT pg_stat_clear_snapshot()');
    const now = await commits(admin, database);
    const live = await admin.query(
      'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1',
      [database],
    );
    if (now === last && live.rows[0].n === 0) return now;
    last = now;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return last;
}

function measure(system, mode, pg, admin, database) {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), [
      'child',
      system,
      mode,
      pg === undefined ? '' : pg.url(database),
    ]);
    let serverBefore = 0;
    let commitsBefore = 0;
    let result;
    child.on('message', async (message) => {
      if (message === 'ready') {
        serverBefore = ON_POSTGRES.has(system) ? pg.cpuMs() : 0;
        commitsBefore = ON_POSTGRES.has(system) ? await commits(admin, database) : 0;
        child.send('go');
      } else {
        result = {
          ...message,
          serverCpuMs: ON_POSTGRES.has(system) ? pg.cpuMs() - serverBefore : 0,
        };
      }
    });
    child.once('exit', async (code) => {
      if (code !== 0 || result === undefined)
        return reject(new Error(`${system} ${mode} child exited with ${code}`));
      if (ON_POSTGRES.has(system))
        result.commits = (await settledCommits(admin, database)) - commitsBefore;
      resolve(result);
    });
  });
}

if (process.argv[2] === 'child') {
  const [, , , system, mode, url] = process.argv;
  await runChild(system, mode, url);
  process.exit(0);
} else {
  const uptime = () => execFileSync('uptime').toString().trim();
  // Inherited by every child (see scratchDir).
  process.env.PEER_SCRATCH = mkdtempSync(join(tmpdir(), 'durable-peer-'));
  console.log(
    `peer bench: ${WORKFLOWS} workflows per throughput measurement, ${ROUNDS} interleaved rounds, each measurement in a fresh process; ${uptime()}`,
  );
  const { startPostgres } = await import('./support/postgres.mjs');
  const needsPg = SYSTEMS.some((s) => ON_POSTGRES.has(s));
  const pg = needsPg ? await startPostgres() : undefined;
  const { default: pgDriver } = await import('pg');
  const admin =
    pg === undefined
      ? undefined
      : new pgDriver.Pool({ connectionString: pg.url('postgres'), max: 1 });
  if (pg !== undefined)
    console.log(
      `  ${pg.version}; DBOS Transact ${
        JSON.parse(
          readFileSync(
            new URL('./node_modules/@dbos-inc/dbos-sdk/package.json', import.meta.url),
            'utf8',
          ),
        ).version
      }`,
    );
  const figures = {};
  const add = (key, value) => (figures[key] ??= []).push(value);
  let database = 0;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const mode of MODES) {
        const systems =
          (mode === '3' || mode === 'latency') && SYSTEMS.includes('pg')
            ? [...SYSTEMS, 'floor']
            : SYSTEMS;
        const order = systems
          .slice(round % systems.length)
          .concat(systems.slice(0, round % systems.length));
        for (const system of order) {
          const name = `peer_${round}_${mode}_${system}_${database++}`;
          if (ON_POSTGRES.has(system)) await admin.query(`CREATE DATABASE ${name}`);
          const r = await measure(system, mode, pg, admin, name);
          if (mode === 'latency') {
            add(`${system}/latency/p50`, quantile(r.ms, 0.5));
            add(`${system}/latency/p99`, quantile(r.ms, 0.99));
            console.log(
              `  round ${round + 1}, latency, ${system}: p50 ${quantile(r.ms, 0.5).toFixed(
                2,
              )} ms, p99 ${quantile(r.ms, 0.99).toFixed(2)} ms`,
            );
          } else if (mode === 'step') {
            add(`${system}/step`, r.perStepMs);
            console.log(`  round ${round + 1}, per step, ${system}: ${r.perStepMs.toFixed(2)} ms`);
          } else {
            const rate = WORKFLOWS / (r.ms / 1000);
            add(`${system}/${mode}/rate`, rate);
            add(`${system}/${mode}/cpu`, (r.cpuMs + r.serverCpuMs) / WORKFLOWS);
            if (r.commits !== undefined) add(`${system}/${mode}/commits`, r.commits / WORKFLOWS);
            console.log(
              `  round ${round + 1}, ${mode} steps, ${system}: ${rate.toFixed(0)}/s (${(
                r.ms / WORKFLOWS
              ).toFixed(2)} ms per workflow), CPU ${(r.cpuMs / WORKFLOWS).toFixed(
                2,
              )} ms + server ${(r.serverCpuMs / WORKFLOWS).toFixed(2)} ms` +
                (r.commits === undefined
                  ? ''
                  : `, ${(r.commits / WORKFLOWS).toFixed(2)} transactions per workflow`),
            );
          }
        }
      }
    }
  } finally {
    await admin?.end();
    await pg?.stop();
    rmSync(process.env.PEER_SCRATCH, { recursive: true, force: true });
  }
  const range = (list) =>
    `${median(list).toFixed(2)} (${Math.min(...list).toFixed(2)}–${Math.max(...list).toFixed(2)})`;
  const ratios = (a, b) => (figures[a] ?? []).map((x, i) => x / figures[b][i]);
  const ratioLine = (label, a, b, target) => {
    const list = ratios(a, b);
    if (list.length === 0 || list.some((x) => !Number.isFinite(x))) return;
    console.log(
      `  ${label}: per round ${list.map((x) => x.toFixed(2)).join(', ')} (median ${median(
        list,
      ).toFixed(2)}x)${target === undefined ? '' : `; target ${target}`}`,
    );
  };
  console.log('summary (median and range over rounds):');
  for (const system of SYSTEMS) {
    const line = [];
    if (figures[`${system}/latency/p50`])
      line.push(
        `start-to-result p50 ${range(figures[`${system}/latency/p50`])} ms, p99 ${range(
          figures[`${system}/latency/p99`],
        )} ms`,
      );
    if (figures[`${system}/3/rate`])
      line.push(
        `3 steps ${range(figures[`${system}/3/rate`])}/s, CPU ${range(
          figures[`${system}/3/cpu`],
        )} ms/wf`,
      );
    if (figures[`${system}/3/commits`])
      line.push(`${range(figures[`${system}/3/commits`])} transactions per 3-step workflow`);
    if (figures[`${system}/0/rate`])
      line.push(
        `0 steps ${range(figures[`${system}/0/rate`].map((r) => 1000 / r))} ms per workflow`,
      );
    if (figures[`${system}/step`]) line.push(`${range(figures[`${system}/step`])} ms per step`);
    console.log(`  ${system}: ${line.join('; ')}`);
  }
  if (figures['floor/3/rate'])
    console.log(
      `  floor (plain pg, ours' 6 statements per workflow): ${range(
        figures['floor/3/rate'],
      )}/s, ${range(figures['floor/3/commits'])} transactions per workflow`,
    );
  if (figures['floor/latency/p50'])
    console.log(
      `  floor, one at a time (6 statements and the read of the result): p50 ${range(
        figures['floor/latency/p50'],
      )} ms, p99 ${range(figures['floor/latency/p99'])} ms`,
    );
  if (SYSTEMS.includes('dbos')) {
    for (const system of SYSTEMS.filter((s) => s !== 'dbos')) {
      console.log(`${system} vs dbos:`);
      ratioLine(
        'start-to-result p50, ours/dbos',
        `${system}/latency/p50`,
        'dbos/latency/p50',
        system === 'pg' ? '<= 0.8' : system === 'fs' ? '<= 1' : undefined,
      );
      ratioLine(
        '3-step throughput, ours/dbos',
        `${system}/3/rate`,
        'dbos/3/rate',
        system === 'pg' || system === 'fs' ? '>= 1.5' : undefined,
      );
      ratioLine(
        '0-step fixed cost, dbos/ours (>= 1: ours costs no more)',
        `${system}/0/rate`,
        'dbos/0/rate',
        system === 'pg' || system === 'fs' ? '>= 1' : undefined,
      );
      ratioLine(
        'cost per step, ours/dbos',
        `${system}/step`,
        'dbos/step',
        system === 'pg' || system === 'fs' ? '<= 0.7' : undefined,
      );
    }
    if (figures['floor/3/rate'])
      ratioLine(
        'floor: plain pg with our statements, floor/dbos throughput',
        'floor/3/rate',
        'dbos/3/rate',
      );
    if (figures['fsfloor/3/rate'] && figures['fs/3/rate'])
      ratioLine('3-step throughput, fs / its floor (fsfloor)', 'fs/3/rate', 'fsfloor/3/rate');
    if (figures['fsfloor/0/rate'] && figures['fs/0/rate'])
      ratioLine('0-step throughput, fs / its floor (fsfloor)', 'fs/0/rate', 'fsfloor/0/rate');
    if (figures['floor/3/rate'] && figures['pg/3/rate'])
      ratioLine('ours on pg / the floor', 'pg/3/rate', 'floor/3/rate');
    if (figures['floor/latency/p50'])
      ratioLine('start-to-result p50: the floor / dbos', 'floor/latency/p50', 'dbos/latency/p50');
    if (figures['floor/latency/p50'] && figures['pg/latency/p50'])
      ratioLine(
        'start-to-result p50: ours on pg / the floor',
        'pg/latency/p50',
        'floor/latency/p50',
      );
  }
  console.log(`  ${uptime()}`);
}
