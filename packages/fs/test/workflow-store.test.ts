import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expectDurableError, runWorkflowStoreSuite } from '@durable/testkit';
import { workflowName } from '../src/due-index.js';
import { FileWorkflowStore } from '../src/index.js';
import { commitKey } from '../src/key-store.js';
import { ValueKind, encodeValueFile } from '../src/value-file.js';
import { markers } from './workflow-support.js';

const roots: string[] = [];
function freshRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'durable-fs-wf-'));
  roots.push(root);
  return root;
}
afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

// The peer is a second store on the same folder: claims and fencing hold between handles.
runWorkflowStoreSuite('fs', {
  create: ({ clock }) => new FileWorkflowStore({ root: freshRoot(), clock }),
  createPeer: (store, { clock }) =>
    new FileWorkflowStore({ root: (store as FileWorkflowStore).root, clock }),
  listing: true,
});

// Inodes of the marker files (due and creation index) under a root.
function markerInodes(root: string): number[] {
  const inodes: number[] = [];
  for (const path of markers(root)) inodes.push(lstatSync(join(root, '.workflow-due', path)).ino);
  for (const bucket of readdirSync(join(root, '.workflow-created'))) {
    if (bucket.startsWith('.')) continue;
    for (const name of readdirSync(join(root, '.workflow-created', bucket)))
      inodes.push(lstatSync(join(root, '.workflow-created', bucket, name)).ino);
  }
  return inodes;
}

describe('fs workflow store', () => {
  it('markers are hard links of one empty file: an insert allocates no inode for its index entries', async () => {
    const root = freshRoot();
    const store = new FileWorkflowStore({ root, fsync: false });
    for (let i = 0; i < 5; i++) await store.insert({ id: `m-${i}`, handler: 'h' });
    const inodes = markerInodes(root);
    expect(inodes).toHaveLength(10);
    expect(new Set(inodes)).toEqual(new Set([statSync(join(root, '.workflow-due', '.empty')).ino]));
  });

  it('a missing or planted shared empty file is made afresh; markers stay plain files', async () => {
    const root = freshRoot();
    const store = new FileWorkflowStore({ root, fsync: false });
    await store.insert({ id: 'first', handler: 'h' });
    const empty = join(root, '.workflow-due', '.empty');
    rmSync(empty);
    await store.insert({ id: 'second', handler: 'h' });
    expect(lstatSync(empty).isFile()).toBe(true);
    rmSync(empty);
    writeFileSync(join(root, 'outside'), '');
    symlinkSync(join(root, 'outside'), empty);
    // A fresh store (another process): it has not checked this path before.
    const other = new FileWorkflowStore({ root, fsync: false });
    await other.insert({ id: 'third', handler: 'h' });
    expect(lstatSync(empty).isFile()).toBe(true);
    for (const path of markers(root))
      expect(lstatSync(join(root, '.workflow-due', path)).isFile()).toBe(true);
    const ids: string[] = [];
    for (let claimed; (claimed = await other.claim({ leaseMs: 60_000 })) !== undefined; )
      ids.push(claimed.record.id);
    expect(ids.sort()).toEqual(['first', 'second', 'third']);
    expect((await other.list({ limit: 10 })).items.map((w) => w.id).sort()).toEqual([
      'first',
      'second',
      'third',
    ]);
  });

  it('state survives a new store instance on the same folder (a restarted process)', async () => {
    const root = freshRoot();
    const first = new FileWorkflowStore({ root });
    await first.insert({ id: 'order/42.v1', handler: 'h', input: { amount: 5 } });
    const claimed = await first.claim({ leaseMs: 60_000 });
    await first.saveStep('order/42.v1', claimed?.token ?? '', 0, {
      id: 's',
      kind: 'step',
      done: true,
      value: 1,
      at: 1,
    });
    const second = new FileWorkflowStore({ root });
    const record = await second.get('order/42.v1');
    expect(record?.status).toBe('running');
    expect(record?.steps[0]?.value).toBe(1);
    expect(record?.input).toEqual({ amount: 5 });
  });

  it('finished workflows leave the due index; a very long id gets a hashed folder and still works', async () => {
    const root = freshRoot();
    const store = new FileWorkflowStore({ root });
    const long = 'x'.repeat(400);
    await store.insert({ id: long, handler: 'h' });
    expect(readdirSync(join(root, '.workflows')).filter((n) => !n.startsWith('.'))[0]).toMatch(
      /^#/,
    );
    expect(markers(root)).toHaveLength(1);
    const claimed = await store.claim({ leaseMs: 1000 });
    expect(claimed?.record.id).toBe(long);
    await store.finish(long, claimed?.token ?? '', { status: 'completed' });
    expect(markers(root)).toEqual([]);
    expect((await store.get(long))?.status).toBe('completed');
  });

  it('a head of an unknown format is a typed error; claims still reach the other workflows and then report it', async () => {
    const root = freshRoot();
    const store = new FileWorkflowStore({ root, fsync: false });
    await store.insert({ id: 'w', handler: 'h' });
    // Another program (or a future version) committed a head this version does not know.
    const dir = join(root, '.workflows', workflowName('w'));
    await commitKey({ dir, parent: join(root, '.workflows') }, () => ({
      chunks: encodeValueFile(ValueKind.VALUE, Buffer.from('{"format":7}')),
      sync: false,
    }));
    await expectDurableError(() => store.get('w'), 'VERSION_UNKNOWN');
    await store.insert({ id: 'good', handler: 'h' });
    expect((await store.claim({ leaseMs: 1000 }))?.record.id).toBe('good');
    await expectDurableError(() => store.claim({ leaseMs: 1000 }), 'VERSION_UNKNOWN');
  });

  it('options are checked at once', async () => {
    await expectDurableError(async () => new FileWorkflowStore({ root: '' }), 'CONFIG');
  });
});

test('a folder written before the creation index (no .workflow-created) is indexed by its first listing, which lists every workflow once', async () => {
  const root = mkdtempSync(join(tmpdir(), 'durable-fs-backfill-'));
  try {
    let now = 1_700_000_000_000;
    const store = new FileWorkflowStore({ root, fsync: false, clock: () => now });
    for (let i = 0; i < 25; i++) {
      now += i % 3; // some share a creation time
      await store.insert({ id: `w-${String(i).padStart(2, '0')}`, handler: 'h' });
    }
    rmSync(join(root, '.workflow-created'), { recursive: true });
    const again = new FileWorkflowStore({ root, fsync: false, clock: () => now });
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await again.list({ limit: 4, ...(cursor === undefined ? {} : { cursor }) });
      seen.push(...page.items.map((item) => item.id));
      cursor = page.cursor;
    } while (cursor !== undefined);
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => `w-${String(i).padStart(2, '0')}`));
    expect(existsSync(join(root, '.workflow-created', '.complete'))).toBe(true);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

describe('the step log', () => {
  const step = (id: string, value: number) => ({
    id,
    kind: 'step' as const,
    done: true,
    value,
    at: 0,
  });
  const runDirOf = (root: string, id: string): string => {
    const dir = join(root, '.workflows', workflowName(id));
    const run = readdirSync(dir).find((name) => /^r[0-9]+$/.test(name));
    return join(dir, run!);
  };

  test('steps written by an older version as one file each are read, and imported into the log by the next step', async () => {
    let now = 1_000_000;
    const root = freshRoot();
    const store = new FileWorkflowStore({ root, fsync: false, clock: () => now });
    await store.insert({ id: 'old', handler: 'h' });
    const claimed = (await store.claim({ leaseMs: 1000 }))!;
    // What an older @durable/fs left: step files <index>.<version> naming the run that wrote them.
    const runDir = runDirOf(root, 'old');
    const legacy = (memo: unknown): Buffer =>
      Buffer.concat(
        encodeValueFile(ValueKind.VALUE, Buffer.from(JSON.stringify({ run: 1, memo }))),
      );
    writeFileSync(join(runDir, '0.0'), legacy(step('a', 0)));
    writeFileSync(join(runDir, '1.0'), legacy({ ...step('b', 1), done: false }));
    writeFileSync(join(runDir, '1.1'), legacy(step('b', 1)));
    expect((await store.get('old'))?.steps.map((m) => m.id)).toEqual(['a', 'b']);
    // Another process (no cached history) records the next step: the older steps move into the log.
    const peer = new FileWorkflowStore({ root, fsync: false, clock: () => now });
    await peer.saveStep('old', claimed.token, 2, step('c', 2));
    expect(existsSync(join(runDir, 'log'))).toBe(true);
    expect((await store.get('old'))?.steps).toEqual([step('a', 0), step('b', 1), step('c', 2)]);
    now += 2000;
    const next = await store.claim({ leaseMs: 1000 });
    expect(next?.record.steps.map((m) => m.id)).toEqual(['a', 'b', 'c']);
  });

  test('a damaged record in the log is skipped, never returned as data', async () => {
    const root = freshRoot();
    const store = new FileWorkflowStore({ root, fsync: false });
    await store.insert({ id: 'w', handler: 'h' });
    const claimed = (await store.claim({ leaseMs: 60_000 }))!;
    await store.saveStep('w', claimed.token, 0, step('a', 0));
    await store.saveStep('w', claimed.token, 1, step('b', 1));
    const path = join(runDirOf(root, 'w'), 'log');
    const bytes = readFileSync(path);
    const at = bytes.indexOf('"id":"b"');
    bytes[at + 6] = 'x'.charCodeAt(0);
    writeFileSync(path, bytes);
    const reader = new FileWorkflowStore({ root, fsync: false });
    expect((await reader.get('w'))?.steps.map((m) => m.id)).toEqual(['a']);
  });
});
