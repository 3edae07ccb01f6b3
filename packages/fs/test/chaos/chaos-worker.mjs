// One process of the random-stop chaos test (see run-chaos.mjs). Until <deadline> (epoch ms) it
// appends its attempt ids to lists stored under a hot key, many cold keys and a locked key:
// compare-and-swap increments (retried on CONFLICT) and lock-protected ones (acquire, read, write
// conditionally on what was read, release). Each outcome is appended to <log> as one line:
//   ok <key> <id> <version> <base>  the write that appended <id> was acknowledged with <version>;
//                               it was conditional on <base> (the version read, '-' for absent)
//   fail <key> <id>             the write that would have appended <id> was refused (CONFLICT/LOCK_LOST)
//   read <key> <version> <lastId>  a read returned the list whose last id is <lastId> under <version>
// Usage: node chaos-worker.mjs <root> <name> <deadline> <fsync 0|1> <log> <coldKeys>
import { appendFileSync } from 'node:fs';
// DURABLE_FS_MODULE: another build of the package to attack (e.g. an older version, to see it fail).
const { FileLockManager, LocalFileStorageManager } = await import(
  process.env.DURABLE_FS_MODULE ?? '../../dist/esm/index.js'
);

const [root, name, deadlineText, fsyncText, log, coldText] = process.argv.slice(2);
const deadline = Number(deadlineText);
const storage = new LocalFileStorageManager({ root, fsync: fsyncText === '1' });
const lock = new FileLockManager({ root, backoff: { baseMs: 2, maxMs: 50 } });
const coldKeys = Number(coldText);
// Share of operations on the hot key (CHAOS_HOT, default 0.4); cold keys get the rest up to 0.8, the locked key 0.2.
const HOT_SHARE = Number(process.env.CHAOS_HOT ?? '0.4');
let seq = 0;
const note = (line) => appendFileSync(log, `${line}\n`);

async function readList(key) {
  const entry = await storage.read(key);
  const list = entry === undefined ? [] : JSON.parse(Buffer.from(entry.data).toString('utf8'));
  note(`read ${key} ${entry?.version ?? '-'} ${list.length === 0 ? '-' : list[list.length - 1]}`);
  return { entry, list };
}

async function casAppend(key) {
  for (;;) {
    const id = `${name}.${process.pid}.${seq++}`;
    const { entry, list } = await readList(key);
    try {
      const version = await storage.write(key, JSON.stringify([...list, id]), {
        ifVersion: entry?.version ?? null,
      });
      note(`ok ${key} ${id} ${version} ${entry?.version ?? '-'}`);
      return;
    } catch (error) {
      if (error?.code !== 'CONFLICT') throw error;
      note(`fail ${key} ${id}`);
    }
  }
}

async function lockedAppend(key) {
  const id = `${name}.${process.pid}.${seq++}`;
  let lease;
  try {
    lease = await lock.acquire(key, { ttlMs: 150, waitMs: 5_000 });
  } catch (error) {
    if (error?.code === 'LOCK_TIMEOUT') return;
    throw error;
  }
  try {
    const { entry, list } = await readList(key);
    // Under the lease, and still conditional: a holder stopped past its TTL must not write over
    // the next holder's work (its version is stale by then).
    const version = await storage.write(key, JSON.stringify([...list, id]), {
      ifVersion: entry?.version ?? null,
    });
    note(`ok ${key} ${id} ${version} ${entry?.version ?? '-'}`);
  } catch (error) {
    if (error?.code !== 'CONFLICT') throw error;
    note(`fail ${key} ${id}`);
  } finally {
    await lease.release().catch(() => undefined);
  }
}

while (Date.now() < deadline) {
  const dice = Math.random();
  if (dice < HOT_SHARE) await casAppend('hot');
  else if (dice < 0.8) await casAppend(`cold/${Math.floor(Math.random() * coldKeys)}`);
  else await lockedAppend('locked');
}
process.exit(0);
