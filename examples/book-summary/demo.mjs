// The literature-summary orchestration on local files: an orchestrator (orchestrateCloudEvents)
// and fake services exchange CloudEvents until every book is summarised or given up on. Midway
// an orchestrator process is killed (SIGKILL) after saving and before publishing; the restarted
// one is handed the same batch again and returns the same events with the same ids, so nothing
// is lost or doubled. One book's summariser never answers: after the last batch no orchestrator
// runs, the book's `after` deadline passes, and scheduled timer runs (separate processes calling
// fireDueTimers) time it out, retry it and finally fail it.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileLockManager, LocalFileStorageManager } from '@durable/fs';
import {
  fireDueTimers,
  inspectOrchestration,
  orchestrateCloudEvents,
  toMermaid,
} from '@durable/core/orchestrator';
import { bookSummaryMachine, onCloudEvent, onOrchestrationState } from './machine.mjs';
import { answer } from './services.mjs';

const crashMode = process.argv[2] === '--crash-after-first-save';
const timerRunMode = process.argv[2] === '--timer-run';
const keep = process.env.DURABLE_DATA_DIR !== undefined;
const root =
  crashMode || timerRunMode
    ? process.argv[3]
    : (process.env.DURABLE_DATA_DIR ?? mkdtempSync(join(tmpdir(), 'durable-book-summary-')));
// How long the summariser of war-and-peace (which never answers) is given, per attempt.
const SILENT_TIMEOUT_MS = 1_500;
const storage = new LocalFileStorageManager({ root });
const lock = new FileLockManager({ root });
const finalSnapshots = new Map();

// A fresh options object stands for a fresh orchestrator process: nothing is kept in memory
// between batches, everything lives in the folder.
function orchestrator() {
  return {
    versions: [{ version: '1.0.0', logic: bookSummaryMachine }],
    storage,
    lock,
    source: 'example.book-summary',
    concurrency: 4,
    // Short leases, so the restart takes over a dead orchestrator's leases in 2 s.
    ttlMs: 2_000,
    onOrchestrationState,
    onCloudEvent,
    onSnapshot: (subject, snapshot) => finalSnapshots.set(subject, snapshot),
  };
}

// The orchestrator process that dies: it applies the batch, and SIGKILLs itself right after
// the first process was saved, before anything is published (the other subject's lease may
// still be held).
if (crashMode) {
  const { events, starts } = JSON.parse(readFileSync(process.argv[4], 'utf8'));
  await orchestrateCloudEvents(
    {
      ...orchestrator(),
      onSnapshot: (subject) => {
        console.log(
          `  !! orchestrator process ${process.pid} saved ${subject}; killing it now (SIGKILL), before it publishes`,
        );
        process.kill(process.pid, 'SIGKILL');
      },
    },
    events,
    starts,
  );
  process.exit(0);
}

// A scheduled timer run, as a cron-triggered function would do it: a process of its own that
// delivers every due timer of the store and publishes what they produce (here: to stdout, one
// JSON line per process), then exits.
if (timerRunMode) {
  const result = await fireDueTimers(orchestrator(), {
    publish: (events) => void process.stdout.write(`${JSON.stringify(events)}\n`),
  });
  process.stdout.write(`${JSON.stringify({ fired: result.fired, errors: result.errors })}\n`);
  process.exit(0);
}

const pad = (text, width) => (text.length >= width ? text : text + ' '.repeat(width - text.length));
const brief = (data) => {
  const text = data === undefined ? '' : JSON.stringify(data);
  return text.length > 70 ? `${text.slice(0, 67)}...` : text;
};
const show = (arrow, event) =>
  console.log(
    `  ${arrow} ${pad(event.type, 30)} ${pad(`[${event.subject}]`, 22)} ${event.id.slice(
      0,
      8,
    )}  ${brief(event.data)}`,
  );

console.log(`durable example: book summary (data in ${root})\n`);
let starts = [
  { subject: 'moby-dick', input: { bookId: 'moby-dick' } },
  { subject: 'pride-and-prejudice', input: { bookId: 'pride-and-prejudice' } },
  { subject: 'the-lost-book', input: { bookId: 'the-lost-book' } },
  {
    subject: 'war-and-peace',
    input: { bookId: 'war-and-peace', summaryTimeoutMs: SILENT_TIMEOUT_MS },
  },
];
let inbox = [];
let crashed = false;
// Consumers deduplicate by event id: the orchestrator's ids are deterministic, so a command
// published twice (after a redelivery) carries the same id both times.
const delivered = new Set();
const deliver = (event) => {
  if (delivered.has(event.id)) {
    console.log(
      `  == ${pad(event.type, 30)} ${pad(`[${event.subject}]`, 22)} ${event.id.slice(
        0,
        8,
      )}  duplicate id: the service skips it`,
    );
    return [];
  }
  delivered.add(event.id);
  return answer(event);
};
for (let round = 1; starts.length > 0 || inbox.length > 0; round++) {
  console.log(`-- batch ${round}: ${starts.length} start(s), ${inbox.length} event(s) in`);
  for (const start of starts) console.log(`  + start ${start.subject}`);
  for (const event of inbox) show('<-', event);
  if (round === 3 && !crashed) {
    crashed = true;
    const batchFile = join(root, 'batch-3.json');
    writeFileSync(batchFile, JSON.stringify({ events: inbox, starts }));
    const child = spawnSync(
      process.execPath,
      [fileURLToPath(import.meta.url), '--crash-after-first-save', root, batchFile],
      {
        stdio: ['ignore', 'inherit', 'inherit'],
      },
    );
    console.log(
      `  !! orchestrator died (${
        child.signal ?? `exit ${child.status}`
      }); a new one starts and the broker redelivers the same batch`,
    );
  }
  const started = Date.now();
  const result = await orchestrateCloudEvents(orchestrator(), inbox, starts);
  if (round === 3) {
    // One book was saved by the dead process: the redelivered batch must not apply its summary
    // again (2 transitions each so far: fetched, summarised), yet must return its events.
    const counts = ['moby-dick', 'pride-and-prejudice'].map(
      (subject) => `${subject} ${result.processes[subject]?.sequence}`,
    );
    console.log(
      `  !! the restart waited ${((Date.now() - started) / 1000).toFixed(
        1,
      )} s for the dead process's leases`,
    );
    console.log(
      `  !! transitions applied: ${counts.join(', ')} (2 each expected: nothing applied twice)`,
    );
    if (
      !['moby-dick', 'pride-and-prejudice'].every(
        (subject) => result.processes[subject]?.sequence === 2,
      )
    )
      process.exitCode = 1;
  }
  for (const event of result.eventsToEmit) show('->', event);
  for (const error of result.errors) show('xx', error);
  // An event the process's state does not take (say, a reply that overtook the one it depends
  // on) is not applied and not recorded: a redelivery is evaluated again.
  for (const skipped of result.notAccepted)
    console.log(
      `  ~~ ${pad(skipped.type, 30)} ${pad(
        `[${skipped.subject}]`,
        22,
      )} not accepted in ${skipped.states.join(', ')}`,
    );
  inbox = result.eventsToEmit.flatMap(deliver);
  if (round === 2 && inbox.length > 0) {
    console.log('  (the bus will deliver one reply twice: the duplicate must change nothing)');
    inbox.push(inbox[0]);
  }
  starts = [];
  console.log();
}

// No orchestrator runs from here on. war-and-peace still waits for its summary; its timer is in
// the store, and timer runs in processes of their own deliver it when due.
console.log(
  '-- no orchestrator process runs now; war-and-peace waits for a summary that never comes',
);
for (let run = 1; ; run++) {
  const view = await inspectOrchestration(orchestrator(), 'war-and-peace');
  const timer = view?.timers[0];
  if (view === undefined || view.status !== 'active' || timer === undefined) break;
  const wait = timer.deadline - Date.now();
  console.log(
    `  .. timer ${timer.id} due ${
      wait > 0 ? `in ${wait} ms` : `${-wait} ms ago`
    }; timer run ${run} starts then, in a new process`,
  );
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--timer-run', root], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = child.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
  const summary = lines.pop();
  const published = lines.flat();
  for (const event of published) show('->', event);
  for (const error of summary.errors) show('xx', error);
  console.log(
    `  .. timer run ${run} fired ${summary.fired} timer(s); done ${
      Date.now() - timer.deadline
    } ms after the deadline (starting a node process included)`,
  );
  for (const event of published) deliver(event); // the summariser stays silent
  if (run > 5) {
    process.exitCode = 1;
    break;
  }
}
console.log();

console.log('-- where each orchestration stands');
for (const { subject } of [...finalSnapshots.keys()].map((subject) => ({ subject }))) {
  const view = await inspectOrchestration(orchestrator(), subject);
  console.log(
    `  ${pad(subject, 22)} ${pad(JSON.stringify(view.value), 12)} attempts=${
      view.context.attempts
    } timeouts=${view.context.timeouts} summary=${JSON.stringify(view.context.summary)}`,
  );
}
const silent = await inspectOrchestration(orchestrator(), 'war-and-peace');
if (silent?.value !== 'failed' || silent.context.timeouts !== 3) {
  console.log(
    `  !! war-and-peace should have failed after 3 timeouts, found ${JSON.stringify(
      silent?.value,
    )}`,
  );
  process.exitCode = 1;
}
const moby = finalSnapshots.get('moby-dick');
console.log(
  "\n-- the machine, with moby-dick's current state marked (paste into any Mermaid viewer)\n",
);
console.log(toMermaid(bookSummaryMachine, { current: moby }));
if (!keep) rmSync(root, { recursive: true, force: true });
