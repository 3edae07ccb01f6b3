// The workflow random-stop chaos test of @durable/fs: several processes claim workflows with a
// short lease and record their steps while this runner stops them at random (SIGSTOP for 5-300 ms,
// then SIGCONT: longer than the lease, so others take over) and now and then kills one (SIGKILL)
// and starts a new one. Then it checks every workflow's final history: every acknowledged step is
// in it at its position, with its memo; every history a claim returned is a prefix of it (nothing
// a holder read ever changes); no step id appears twice; no refused step is in it. Workers also
// start workflows claimed (insertClaimed): each acknowledged start exists, and its steps are
// checked the same way.
// Usage: node run-workflow-chaos.mjs [--seconds 60] [--processes 8] [--fsync 0|1] [--workflows 12]
//        [--steps max(1000, 150 * seconds)] [--json]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
const { FileWorkflowStore } = await import(
  process.env.DURABLE_FS_MODULE ?? '../../dist/esm/index.js'
);

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? fallback : args[i + 1];
};
const seconds = Number(option('seconds', '60'));
const processes = Number(option('processes', '8'));
const fsync = option('fsync', '1');
const workflows = Number(option('workflows', '12'));
// Enough steps that workflows are still running when the time is up (~1,000 steps/s in all here).
const steps = Number(option('steps', String(Math.max(1000, seconds * 150))));
const worker = fileURLToPath(new URL('./workflow-chaos-worker.mjs', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'durable-fs-wf-chaos-'));
const logs = mkdtempSync(join(tmpdir(), 'durable-fs-wf-chaos-logs-'));
const deadline = Date.now() + seconds * 1000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const store = new FileWorkflowStore({ root, fsync: fsync === '1' });
for (let i = 0; i < workflows; i++) await store.insert({ id: `wf-${i}`, handler: 'h' });

const counts = { stops: 0, kills: 0, started: 0 };
const live = new Map();
function start(slot) {
  counts.started++;
  const log = join(logs, `log-${slot}-${counts.started}.txt`);
  const child = spawn(
    process.execPath,
    [worker, root, `p${counts.started}`, String(deadline), fsync, log, String(steps)],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, stderr })),
  );
  live.set(slot, { child, exited, killed: false });
}
for (let slot = 0; slot < processes; slot++) start(slot);

const failures = [];
while (Date.now() < deadline - 200) {
  await sleep(10 + Math.random() * 40);
  const slot = Math.floor(Math.random() * processes);
  const entry = live.get(slot);
  if (Math.random() < 0.03) {
    entry.killed = true;
    entry.child.kill('SIGKILL');
    counts.kills++;
    await entry.exited;
    start(slot);
    continue;
  }
  entry.child.kill('SIGSTOP');
  counts.stops++;
  setTimeout(() => entry.child.kill('SIGCONT'), 5 + Math.random() * 295);
}
for (const entry of live.values()) entry.child.kill('SIGCONT');
await sleep(400);
for (const entry of live.values()) entry.child.kill('SIGCONT');
for (const [slot, entry] of live) {
  const result = await entry.exited;
  if (!entry.killed && result.code !== 0)
    failures.push(
      `worker ${slot} exited with ${result.code ?? result.signal}: ${result.stderr.slice(0, 2000)}`,
    );
}

// Check: the inserted workflows and every one a worker started claimed.
const lines = readdirSync(logs).flatMap((file) =>
  readFileSync(join(logs, file), 'utf8')
    .split('\n')
    .map((line) => ({ file, line })),
);
const ids = new Set(Array.from({ length: workflows }, (_, i) => `wf-${i}`));
for (const { line } of lines) if (line.startsWith('start ')) ids.add(line.split(' ')[1]);
const final = new Map();
for (const id of ids) {
  const record = await store.get(id);
  if (record === undefined) failures.push(`${id} was acknowledged as started but does not exist`);
  final.set(
    id,
    (record?.steps ?? []).map((memo) => memo.id),
  );
}
let acknowledged = 0;
let lost = 0;
let claims = 0;
let starts = 0;
for (const { file, line } of lines) {
  {
    const [kind, workflow, token, a, b] = line.split(' ');
    if (kind === 'error') failures.push(`${file}: ${line}`);
    const history = final.get(workflow);
    if (kind === 'start') {
      starts++;
    } else if (kind === 'ok') {
      acknowledged++;
      if (history[Number(a)] !== b)
        failures.push(
          `${b} was acknowledged at ${workflow}[${a}] (claim ${token}) but the history has ${history[Number(a)]}`,
        );
    } else if (kind === 'lost') {
      lost++;
      const at = history.indexOf(b);
      // A refused step may still count only where it was durable before the takeover; then the
      // next claim read it (the claim lines check that it never appears after a history read).
      if (at !== -1 && at !== Number(a))
        failures.push(`refused ${b} appears at ${workflow}[${at}], not its position ${a}`);
    } else if (kind === 'claim') {
      claims++;
      const read = a === '-' ? [] : a.split(',');
      if (read.some((id, i) => history[i] !== id))
        failures.push(
          `claim ${token} of ${workflow} read ${a}, not a prefix of ${history.join(',')}`,
        );
    }
  }
}
for (const [workflow, history] of final)
  if (new Set(history).size !== history.length) failures.push(`${workflow} repeats a step id`);
// Claims of a workflow claimed (or started claimed) before: a holder's lease expired.
const holders = new Map();
for (const { line } of lines) {
  const [kind, workflow] = line.split(' ');
  if (kind === 'claim' || kind === 'start') holders.set(workflow, (holders.get(workflow) ?? 0) + 1);
}
const takeovers = [...holders.values()].reduce((n, count) => n + count - 1, 0);
const summary = {
  seconds,
  processes,
  fsync: fsync === '1',
  ...counts,
  claims,
  starts,
  takeovers,
  acknowledged,
  lost,
  recorded: [...final.values()].reduce((n, h) => n + h.length, 0),
  failures: failures.slice(0, 20),
  failureCount: failures.length,
};
if (args.includes('--json')) process.stdout.write(`${JSON.stringify(summary)}\n`);
else console.log(summary);
rmSync(logs, { recursive: true, force: true });
if (failures.length === 0) rmSync(root, { recursive: true, force: true });
else console.error(`workflow chaos: failed; the store is kept in ${root}`);
process.exit(failures.length === 0 ? 0 : 1);
