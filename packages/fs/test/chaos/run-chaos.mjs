// The random-stop chaos test of @durable/fs: several processes append ids to shared lists with
// conditional and lock-protected writes while this runner stops them at random (SIGSTOP for
// 5-300 ms, then SIGCONT) and now and then kills one (SIGKILL) and starts a new one. Then it checks:
// every acknowledged append is in its list exactly once, no refused one is there at all, no id is
// there twice, and every read saw a committed list (a version never names two lists, and the last
// id of a list read is never a refused append).
// Usage: node run-chaos.mjs [--seconds 60] [--processes 8] [--fsync 0|1] [--json]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
// DURABLE_FS_MODULE: another build of the package to attack (e.g. an older version, to see it fail).
const { LocalFileStorageManager } = await import(
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
const coldKeys = 20;
const worker = fileURLToPath(new URL('./chaos-worker.mjs', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'durable-fs-chaos-'));
const logs = join(root, '.chaos-logs');
const deadline = Date.now() + seconds * 1000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const counts = { stops: 0, kills: 0, started: 0 };
const live = new Map();
function start(slot) {
  counts.started++;
  const log = join(root, `log-${slot}-${counts.started}.txt`);
  const child = spawn(
    process.execPath,
    [worker, root, `w${slot}`, String(deadline), fsync, log, String(coldKeys)],
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
  const stopFor = 5 + Math.random() * 295;
  setTimeout(() => entry.child.kill('SIGCONT'), stopFor);
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

// Check.
const acked = new Map();
const ackedVersions = new Map();
const refused = new Set();
const versions = new Map();
let reads = 0;
for (const file of readdirSync(root).filter((name) => name.startsWith('log-'))) {
  for (const line of readFileSync(join(root, file), 'utf8').split('\n')) {
    const [kind, key, a, b] = line.split(' ');
    if (kind === 'ok') {
      acked.set(a, { key, version: b });
      // Two acknowledged writes with one version: two commits on one slot (a lost update).
      const other = ackedVersions.get(`${key}@${b}`);
      if (other !== undefined)
        failures.push(`version ${b} of ${key} was acknowledged twice (${other} and ${a})`);
      ackedVersions.set(`${key}@${b}`, a);
    } else if (kind === 'fail') refused.add(a);
    else if (kind === 'read') {
      reads++;
      if (a === '-') continue;
      const named = `${key}@${a}`;
      const before = versions.get(named);
      if (before !== undefined && before !== b)
        failures.push(`version ${a} of ${key} named two lists (last ids ${before} and ${b})`);
      versions.set(named, b);
      if (refused.has(b)) failures.push(`a read of ${key} returned a refused append ${b}`);
    }
  }
}
// Refused ids known only after all logs are read: check reads again.
for (const [named, last] of versions)
  if (refused.has(last)) failures.push(`a read of ${named} returned a refused append ${last}`);
const storage = new LocalFileStorageManager({ root });
const keys = ['hot', 'locked', ...Array.from({ length: coldKeys }, (_, i) => `cold/${i}`)];
let present = 0;
const seen = new Set();
for (const key of keys) {
  const entry = await storage.read(key);
  const list = entry === undefined ? [] : JSON.parse(Buffer.from(entry.data).toString('utf8'));
  for (const id of list) {
    if (seen.has(id)) failures.push(`${id} is in ${key} twice (or in two keys)`);
    seen.add(id);
    if (refused.has(id)) failures.push(`${id} was refused but is in ${key}`);
    const ack = acked.get(id);
    if (ack !== undefined && ack.key !== key)
      failures.push(`${id} was acknowledged for ${ack.key} but is in ${key}`);
  }
  present += list.length;
}
for (const [id, ack] of acked)
  if (!seen.has(id))
    failures.push(`${id} was acknowledged (${ack.key} version ${ack.version}) but is missing`);
const summary = {
  seconds,
  processes,
  fsync: fsync === '1',
  ...counts,
  acknowledged: acked.size,
  refused: refused.size,
  reads,
  present,
  failures: failures.slice(0, 20),
  failureCount: failures.length,
};
if (args.includes('--json')) process.stdout.write(`${JSON.stringify(summary)}\n`);
else console.log(summary);
// A failed run keeps its folder (the stored keys and every worker's log) for a post-mortem.
if (failures.length === 0) rmSync(root, { recursive: true, force: true });
else console.error(`chaos: failed; the store and the workers' logs are kept in ${root}`);
process.exit(failures.length === 0 ? 0 : 1);
