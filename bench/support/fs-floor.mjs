// The bare file-system work one workflow costs in @durable/fs's workflow layout (no engine, no
// reads, no checks), with the store's split (metadata calls synchronous, fsync on the thread pool),
// for a workflow started claimed by the worker of its process (WorkflowStore.insertClaimed, what
// WorkflowClient.start does when a worker of the process has a free place):
//   insert  2 markers (due, created: hard links of one empty file), a prepared folder with e0/
//           and r0/, the (claimed) head written and fsynced in it, the folder renamed into place
//   steps   each one record appended to r0/log (created by the first) and fdatasynced
//   finish  a head written and fsynced, linked, its temp name removed; r0 renamed to r1; the due
//           marker removed
import {
  closeSync,
  fdatasync,
  fsync,
  linkSync,
  mkdirSync,
  openSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

const fdatasyncAsync = (fd) =>
  new Promise((resolve, reject) => fdatasync(fd, (error) => (error ? reject(error) : resolve())));
const fsyncAsync = (fd) =>
  new Promise((resolve, reject) => fsync(fd, (error) => (error ? reject(error) : resolve())));
const head = Buffer.alloc(300, 'h');
const step = Buffer.alloc(120, 's');

async function writeSynced(path, bytes) {
  const fd = openSync(path, 'wx', 0o600);
  try {
    writeSync(fd, bytes);
    await fsyncAsync(fd);
  } finally {
    closeSync(fd);
  }
}

// A commit of the protocol: a temp file written and fsynced, linked to its slot, unlinked.
async function commitFile(dir, target, bytes, n) {
  const temp = join(dir, `.t-${n}`);
  await writeSynced(temp, bytes);
  linkSync(temp, target);
  unlinkSync(temp);
}

// A step: one record appended to the run folder's log and fdatasynced.
async function appendSynced(path, bytes) {
  const fd = openSync(path, 'a', 0o600);
  try {
    writeSync(fd, bytes);
    await fdatasyncAsync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Makes the folders of a floor run under `base`. */
export function prepareFloor(base) {
  for (const dir of ['w', 'due', 'created']) mkdirSync(join(base, dir), { recursive: true });
  closeSync(openSync(join(base, 'due', '.empty'), 'wx', 0o600));
}

/** The insert of workflow `i`. */
export async function floorInsert(base, i) {
  linkSync(join(base, 'due', '.empty'), join(base, 'due', `${i}.0`));
  linkSync(join(base, 'due', '.empty'), join(base, 'created', `${i}`));
  const prep = join(base, 'w', `.p-${i}`);
  mkdirSync(prep);
  mkdirSync(join(prep, 'e0'));
  await writeSynced(join(prep, 'e0', '0'), head);
  mkdirSync(join(prep, 'r0'));
  renameSync(prep, join(base, 'w', String(i)));
}

/** The run of workflow `i` (inserted claimed): `steps` steps and its finish. */
export async function floorRun(base, i, steps) {
  const w = join(base, 'w', String(i));
  for (let s = 0; s < steps; s++) await appendSynced(join(w, 'r0', 'log'), step);
  await commitFile(w, join(w, 'e0', '1'), head, 'f');
  renameSync(join(w, 'r0'), join(w, 'r1'));
  unlinkSync(join(base, 'due', `${i}.0`));
}
