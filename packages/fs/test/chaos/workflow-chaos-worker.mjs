// One process of the workflow random-stop chaos test (see run-workflow-chaos.mjs). Until
// <deadline> (epoch ms) it claims workflows with a short lease (a stop of a few hundred ms lets
// another process take over) and records their steps one after another, each memo with an id of
// its own, then finishes a workflow once it has <steps> steps. Its first turn and every fourth it starts a
// new workflow claimed instead (insertClaimed), which it finishes after 20 steps (or another
// process does, once its lease expired). Each outcome is one line of <log>:
//   start <workflow> <token>             insertClaimed created it, claimed with this token
//   claim <workflow> <token> <ids>       a claim returned this history (ids joined by ',', or '-')
//   ok <workflow> <token> <index> <id>   the step was acknowledged
//   lost <workflow> <token> <index> <id> the step was refused (LOCK_LOST)
//   error <workflow> <message>           anything else (a failure of the test)
// Usage: node workflow-chaos-worker.mjs <root> <name> <deadline> <fsync 0|1> <log> <steps>
import { appendFileSync } from 'node:fs';
const { FileWorkflowStore } = await import(
  process.env.DURABLE_FS_MODULE ?? '../../dist/esm/index.js'
);

const [root, name, deadlineText, fsyncText, log, stepsText] = process.argv.slice(2);
const deadline = Number(deadlineText);
const steps = Number(stepsText);
const store = new FileWorkflowStore({ root, fsync: fsyncText === '1' });
const note = (line) => appendFileSync(log, `${line}\n`);
const LEASE_MS = 50;
const STARTED_STEPS = 20;
let seq = 0;
let starts = 0;
let turns = 0;

while (Date.now() < deadline) {
  let claimed;
  const starting = turns++ % 4 === 0 ? `${name}-s${starts++}` : undefined;
  try {
    claimed =
      starting === undefined
        ? await store.claim({ leaseMs: LEASE_MS })
        : await store.insertClaimed({ id: starting, handler: 'h' }, { leaseMs: LEASE_MS });
  } catch (error) {
    note(`error - ${starting ?? 'claim'}: ${String(error?.message ?? error).replace(/\n/g, ' ')}`);
    continue;
  }
  if (claimed === undefined) {
    if (starting !== undefined) note(`error ${starting} insertClaimed of a new id created nothing`);
    await new Promise((resolve) => setTimeout(resolve, 5));
    continue;
  }
  const { token, record } = claimed;
  const ids = record.steps.map((memo) => memo.id);
  if (starting !== undefined) note(`start ${record.id} ${token}`);
  else note(`claim ${record.id} ${token} ${ids.length === 0 ? '-' : ids.join(',')}`);
  const limit = record.id.startsWith('wf-') ? steps : STARTED_STEPS;
  let noted = false;
  try {
    for (let index = ids.length; index < limit && Date.now() < deadline; index++) {
      // The step's own work: a stop lands mid-workflow, often past the lease.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
      const id = `${name}.${seq++}`;
      try {
        await store.saveStep(record.id, token, index, {
          id,
          kind: 'step',
          done: true,
          value: index,
          at: 0,
        });
      } catch (error) {
        noted = true;
        if (error?.code === 'LOCK_LOST') {
          note(`lost ${record.id} ${token} ${index} ${id}`);
          throw error;
        }
        note(
          `error ${record.id} step ${index}: ${String(error?.message ?? error).replace(/\n/g, ' ')}`,
        );
        throw error;
      }
      note(`ok ${record.id} ${token} ${index} ${id}`);
      if (index % 4 === 3) await store.heartbeat(record.id, token, LEASE_MS);
    }
    if (Date.now() < deadline) await store.finish(record.id, token, { status: 'completed' });
    else await store.release(record.id, token);
  } catch (error) {
    if (error?.code !== 'LOCK_LOST' && !noted)
      note(`error ${record.id} ${String(error?.message ?? error).replace(/\n/g, ' ')}`);
  }
}
