// Peer bench: DBOS Transact 5.3.0 on PostgreSQL 15 against @durable/workflow
// on @durable/fs's workflow store and on @durable/sqlite's, in one run with interleaved rounds.
// Each measurement runs in a fresh child process (so no system's timers, pools or heap weigh on
// another) on a fresh database or folder, fsync on everywhere (PostgreSQL's defaults: fsync and
// synchronous_commit on). One measurement: start N workflows one after another in the process
// and run them there, from the first start until every result is in.
//   - 3 steps: end-to-end throughput.
//   - 0 steps: the fixed cost of a workflow (start, claim or launch, finish).
// Ours run with concurrency 10 (the default) and pollIntervalMs 10 (the default 1,000 would make a
// worker that found nothing due sleep a second: `start()` does not yet wake a local worker).
// DBOS runs each workflow as soon as it is started, with no concurrency bound.
// Besides wall time it reports CPU time per workflow (the child's, plus for DBOS the PostgreSQL
// server's processes'), which a loaded machine distorts less than wall time; fsync waits are in
// wall time only.
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

// The measured part starts when the parent says go (after reading the server's CPU time) and
// its figures are sent before any cleanup, while the server's backends are still alive.
function handshake() {
  return new Promise((resolve) => {
    process.once('message', resolve);
    process.send('ready');
  });
}

async function runDbos(url, steps) {
  const { DBOS } = await import('@dbos-inc/dbos-sdk');
  DBOS.setConfig({ name: 'durable-peer-bench', systemDatabaseUrl: url, logLevel: 'error' });
  const workflow = DBOS.registerWorkflow(
    async (n) => handlerBody((name, fn) => DBOS.runStep(fn, { name }), n, steps),
    { name: `steps${steps}` },
  );
  await DBOS.launch();
  await handshake();
  const cpu = process.cpuUsage();
  const started = performance.now();
  const handles = [];
  for (let i = 0; i < WORKFLOWS; i++) handles.push(await DBOS.startWorkflow(workflow, { workflowID: `wf-${i}` })(i));
  const results = await Promise.all(handles.map((handle) => handle.getResult()));
  const ms = performance.now() - started;
  if (results.length !== WORKFLOWS || results.some((r) => r === undefined)) throw new Error('dbos: missing results');
  await report(ms, cpu);
  await DBOS.shutdown();
}

async function runOurs(system, steps) {
  const { createWorkflowClient, defineWorkflow } = await import('../packages/workflow/dist/esm/index.js');
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
  const workflow = defineWorkflow(`steps${steps}`, (ctx, input) => handlerBody((name, fn) => ctx.step(name, fn), input.n, steps));
  const client = createWorkflowClient({ store, workflows: [workflow], pollIntervalMs: 10, onError: (e) => console.error(e) });
  const worker = client.poll();
  await handshake();
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < WORKFLOWS; i++) await client.start(workflow, `wf-${i}`, { n: i });
  await done;
  await report(performance.now() - started, cpu);
  await worker.stop();
  await base.close?.();
  rmSync(dir, { recursive: true, force: true });
}

function report(ms, cpu) {
  const used = process.cpuUsage(cpu);
  return new Promise((resolve) => process.send({ ms, cpuMs: (used.user + used.system) / 1000 }, resolve));
}

// Wall time, the child's CPU time, and the database server's CPU time over the measured part.
function measure(system, steps, pg) {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['child', system, String(steps), pg?.url(system) ?? '']);
    let serverBefore = 0;
    let result;
    child.on('message', (message) => {
      if (message === 'ready') {
        serverBefore = system === 'dbos' ? pg.cpuMs() : 0;
        child.send('go');
      } else {
        result = { ...message, serverCpuMs: system === 'dbos' ? pg.cpuMs() - serverBefore : 0 };
      }
    });
    child.once('exit', (code) => (code === 0 && result !== undefined ? resolve(result) : reject(new Error(`${system} child exited with ${code}`))));
  });
}

if (process.argv[2] === 'child') {
  const [, , , system, steps, url] = process.argv;
  if (system === 'dbos') await runDbos(url, Number(steps));
  else await runOurs(system, Number(steps));
  process.exit(0);
} else {
  const uptime = () => execFileSync('uptime').toString().trim();
  console.log(`peer bench: ${WORKFLOWS} workflows per measurement, ${ROUNDS} interleaved rounds, each in a fresh process; ${uptime()}`);
  const { startPostgres } = await import('./support/postgres.mjs');
  const pg = SYSTEMS.includes('dbos') ? await startPostgres() : undefined;
  if (pg !== undefined) console.log(`  ${pg.version}; DBOS Transact ${JSON.parse(readFileSync(new URL('./node_modules/@dbos-inc/dbos-sdk/package.json', import.meta.url), 'utf8')).version}`);
  const rates = {};
  const cpu = {};
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const steps of STEPS) {
        const order = SYSTEMS.slice(round % SYSTEMS.length).concat(SYSTEMS.slice(0, round % SYSTEMS.length));
        for (const system of order) {
          const database = pg === undefined ? undefined : { ...pg, url: () => pg.url(`dbos_peer_${round}_${steps}`) };
          const { ms, cpuMs, serverCpuMs } = await measure(system, steps, database);
          (rates[`${system}/${steps}`] ??= []).push(WORKFLOWS / (ms / 1000));
          (cpu[`${system}/${steps}`] ??= []).push((cpuMs + serverCpuMs) / WORKFLOWS);
          console.log(`  round ${round + 1}, ${steps} steps, ${system}: ${(WORKFLOWS / (ms / 1000)).toFixed(0)}/s, CPU ${(cpuMs / WORKFLOWS).toFixed(2)} ms + server ${(serverCpuMs / WORKFLOWS).toFixed(2)} ms per workflow`);
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
      const used = cpu[`${system}/${steps}`];
      console.log(`  ${system.padEnd(7)} ${fmt(list)}  ${(1000 / median(list)).toFixed(2)} ms wall; CPU ${median(used).toFixed(2)} ms (${Math.min(...used).toFixed(2)}–${Math.max(...used).toFixed(2)}) per workflow`);
    }
    if (SYSTEMS.includes('dbos')) {
      for (const system of SYSTEMS.filter((s) => s !== 'dbos')) {
        const ratios = rates[`${system}/${steps}`].map((r, i) => r / rates[`dbos/${steps}`][i]);
        console.log(`  ${system}/dbos throughput ratio per round: ${ratios.map((r) => r.toFixed(2)).join(', ')} (median ${median(ratios).toFixed(2)}x)`);
        const cpuRatios = cpu[`dbos/${steps}`].map((c, i) => c / cpu[`${system}/${steps}`][i]);
        console.log(`  dbos/${system} CPU per workflow ratio per round: ${cpuRatios.map((r) => r.toFixed(2)).join(', ')} (median ${median(cpuRatios).toFixed(2)}x)`);
      }
    }
    if (SYSTEMS.includes('fs') && SYSTEMS.includes('sqlite')) {
      const ratios = rates[`sqlite/${steps}`].map((r, i) => r / rates[`fs/${steps}`][i]);
      console.log(`  sqlite/fs throughput ratio per round: ${ratios.map((r) => r.toFixed(2)).join(', ')} (median ${median(ratios).toFixed(2)}x)`);
    }
  }
  console.log(`  ${uptime()}`);
}
