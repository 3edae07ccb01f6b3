// orchestrateCloudEvents on @durable/fs (storage + file lock, read-write locking): events per
// second for one batch of 1,000 evt.* events over 100 subjects (10 per subject, each emitting a
// command), with the concurrency bound at 1, 4 and 16. The 100 processes are started in a
// previous batch, not timed.
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createCloudEvent, orchestrateCloudEvents } from '@durable/core/orchestrator';
import { FileLockManager, LocalFileStorageManager } from '@durable/fs';

const coreDir = dirname(createRequire(import.meta.url).resolve('@durable/core/package.json'));
const { assign, createMachine } = await import(
  pathToFileURL(createRequire(join(coreDir, 'package.json')).resolve('xstate')).href
);

const machine = createMachine({
  id: 'steps',
  initial: 'a',
  context: { steps: 0 },
  states: {
    a: {
      on: {
        'evt.step': { target: 'b', actions: assign({ steps: ({ context }) => context.steps + 1 }) },
      },
    },
    b: {
      on: {
        'evt.step': { target: 'a', actions: assign({ steps: ({ context }) => context.steps + 1 }) },
      },
    },
  },
});
const onOrchestrationState = {
  a: (id, { context }) => ({ type: 'cmd.work', data: { step: context.steps } }),
  b: (id, { context }) => ({ type: 'cmd.work', data: { step: context.steps } }),
};

const SUBJECTS = 100;
const PER_SUBJECT = 10;
const subjects = Array.from({ length: SUBJECTS }, (_, i) => `order-${i}`);
const events = [];
for (let k = 0; k < PER_SUBJECT; k++) {
  for (const subject of subjects) {
    events.push(
      createCloudEvent({
        id: `${subject}-${k}`,
        source: 'bench',
        type: 'evt.step',
        subject,
        data: { k },
      }),
    );
  }
}

console.log(
  `orchestrateCloudEvents on fs: one batch of ${events.length} events over ${SUBJECTS} subjects`,
);
for (const concurrency of [1, 4, 16]) {
  const root = mkdtempSync(join(tmpdir(), 'durable-bench-orch-'));
  const options = {
    versions: [{ version: '1', logic: machine }],
    storage: new LocalFileStorageManager({ root }),
    lock: new FileLockManager({ root }),
    concurrency,
    onOrchestrationState,
  };
  await orchestrateCloudEvents(
    options,
    [],
    subjects.map((subject) => ({ subject })),
  );
  const started = performance.now();
  const result = await orchestrateCloudEvents(options, events);
  const ms = performance.now() - started;
  rmSync(root, { recursive: true, force: true });
  if (result.errors.length > 0 || result.eventsToEmit.length !== events.length) {
    throw new Error(
      `unexpected result: ${result.errors.length} errors, ${result.eventsToEmit.length} events out`,
    );
  }
  console.log(
    `  concurrency ${String(concurrency).padStart(2)}: ${(events.length / (ms / 1000))
      .toFixed(0)
      .padStart(6)} events/s (${ms.toFixed(0)} ms, ${result.eventsToEmit.length} commands out)`,
  );
}
