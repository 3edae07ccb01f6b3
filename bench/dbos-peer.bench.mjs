// Peer bench (issues 10 and 12): DBOS Transact 5.3.0 on PostgreSQL 15 against @durable/workflow
// on @durable/fs's workflow store and on @durable/sqlite's, in one run with interleaved rounds.
// Each measurement runs in a fresh child process (so no system's timers, pools or heap weigh on
// another) on a fresh database or folder, fsync on everywhere (PostgreSQL's defaults: fsync and
// synchronous_commit on). One measurement: start N workflows one after another in the process
// and run them there, from the first start until every result is in.
//   - 3 steps: the end-to-end throughput the issues name.
//   - 0 steps: the fixed cost of a workflow (start, claim or launch, finish).
// Ours run with concurrency 10 (the default) and pollIntervalMs 10 (the default 1,000 would make a
// worker that found nothing due sleep a second: `start()` does not yet wake a local worker).
// DBOS runs each workflow as soon as it is started, with no concurrency bound.
// Usage: node bench/dbos-peer.bench.mjs   (WORKFLOWS=2000 ROUNDS=3 SYSTEMS=dbos,fs,sqlite STEPS=3,0)
import { execFileSync, fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './support/stats.mjs';

const WORKFLOWS = Number(process.env.WORKFLOWS ?? 2000);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const SYSTEMS = (process.env.SYSTEMS ?? 'dbos,fs,sqlite').split(',');
const STEPS = (process.env.STEPS ?? '3,0').split(',').map(Number);

async function handlerBody(step, n, steps) {
  if (steps === 0) return n;
  const a = await step('one', async () => n + 1);
  const b = await step('two', async () => a * 2);
  return step('three', async () => ({ total: b }));
}

async function runDbos(url, steps) {
  const { DBOS } = await import('@dbos-inc/dbos-sdk');
  DBOS.setConfig({ name: 'durable-peer-bench', systemDatabaseUrl: url, logLevel: 'error' });
  const workflow = DBOS.registerWorkflow(
    async (n) => handlerBody((name, fn) => DBOS.runStep(fn, { name }), n, steps),
    { name: `steps${steps}` },
  );
  await DBOS.launch();
  const started = performance.now();
  const handles = [];
  for (let i = 0; i < WORKFLOWS; i++) handles.push(await DBOS.startWorkflow(workflow, { workflowID: `wf-${i}` })(i));
  const results = await Promise.all(handles.map((handle) => handle.getResult()));
  const ms = performance.now() - started;
  if (results.length !== WORKFLOWS || results.some((r) => r === undefined)) throw new Error('dbos: missing results');
  await DBOS.shutdown();
  return ms;
}

async function runOurs(system, steps) {
  const { createWorkflowClient } = await import('../packages/workflow/dist/esm/index.js');
  const dir = mkdtempSync(join(tmpdir(), `durable-peer-${system}-`));
  let base;
  if (system === 'fs') {
    const { createFileWorkflowStore } = await import('@durable/fs');
    base = createFileWorkflowStore({ root: dir });
  } else {
    const { SqliteWorkflowStore } = await import('../packages/sqlite/dist/esm/index.js');
    base = new SqliteWorkflowStore({ path: join(dir, 'durable.db') });
  }
  let completed = 0;
  let allDone;
  const done = new Promise((resolve) => (allDone = resolve));
  const store = Object.create(base);
  store.finish = async (id, token, outcome) => {
    await base.finish(id, token, outcome);
    if (outcome.status !== 'completed') throw new Error(`${id} ended ${outcome.status}`);
    if (++completed === WORKFLOWS) allDone();
  };
  const handlers = { [`steps${steps}`]: (ctx, input) => handlerBody((name, fn) => ctx.step(name, fn), input.n, steps) };
  const client = createWorkflowClient({ store, handlers, pollIntervalMs: 10, onError: (e) => console.error(e) });
  const worker = client.poll();
  const started = performance.now();
  for (let i = 0; i < WORKFLOWS; i++) await client.start(`wf-${i}`, `steps${steps}`, { n: i });
  await done;
  const ms = performance.now() - started;
  await worker.stop();
  await base.close?.();
  rmSync(dir, { recursive: true, force: true });
  return ms;
}

function measure(system, steps, url) {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['child', system, String(steps), url ?? '']);
    child.once('message', resolve);
    child.once('exit', (code) => (code === 0 ? undefined : reject(new Error(`${system} child exited with ${code}`))));
  });
}

if (process.argv[2] === 'child') {
  const [, , , system, steps, url] = process.argv;
  const ms = system === 'dbos' ? await runDbos(url, Number(steps)) : await runOurs(system, Number(steps));
  process.send({ ms }, () => process.exit(0));
} else {
  const uptime = () => execFileSync('uptime').toString().trim();
  console.log(`peer bench: ${WORKFLOWS} workflows per measurement, ${ROUNDS} interleaved rounds, each in a fresh process; ${uptime()}`);
  const { startPostgres } = await import('./support/postgres.mjs');
  const pg = SYSTEMS.includes('dbos') ? await startPostgres() : undefined;
  if (pg !== undefined) console.log(`  ${pg.version}; DBOS Transact ${JSON.parse(readFileSync(new URL('./node_modules/@dbos-inc/dbos-sdk/package.json', import.meta.url), 'utf8')).version}`);
  const rates = {};
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const steps of STEPS) {
        const order = SYSTEMS.slice(round % SYSTEMS.length).concat(SYSTEMS.slice(0, round % SYSTEMS.length));
        for (const system of order) {
          const { ms } = await measure(system, steps, pg?.url(`dbos_peer_${round}_${steps}`));
          (rates[`${system}/${steps}`] ??= []).push(WORKFLOWS / (ms / 1000));
        }
      }
    }
  } finally {
    await pg?.stop();
  }
  const fmt = (list) => `${median(list).toFixed(0)}/s (${Math.min(...list).toFixed(0)}–${Math.max(...list).toFixed(0)})`;
  for (const steps of STEPS) {
    console.log(`${steps}-step workflows, end to end (workflows/s, median and range over rounds; ms per workflow):`);
    for (const system of SYSTEMS) {
      const list = rates[`${system}/${steps}`];
      console.log(`  ${system.padEnd(7)} ${fmt(list)}  ${(1000 / median(list)).toFixed(2)} ms`);
    }
    if (SYSTEMS.includes('dbos')) {
      for (const system of SYSTEMS.filter((s) => s !== 'dbos')) {
        const ratios = rates[`${system}/${steps}`].map((r, i) => r / rates[`dbos/${steps}`][i]);
        console.log(`  ${system}/dbos throughput ratio per round: ${ratios.map((r) => r.toFixed(2)).join(', ')} (median ${median(ratios).toFixed(2)}x)`);
      }
    }
    if (SYSTEMS.includes('fs') && SYSTEMS.includes('sqlite')) {
      const ratios = rates[`sqlite/${steps}`].map((r, i) => r / rates[`fs/${steps}`][i]);
      console.log(`  sqlite/fs throughput ratio per round: ${ratios.map((r) => r.toFixed(2)).join(', ')} (median ${median(ratios).toFixed(2)}x)`);
    }
  }
  console.log(`  ${uptime()}`);
}
