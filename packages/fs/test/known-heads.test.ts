import type { FsOp, Head, KeyFolder, ProtocolOptions } from '../src/protocol.js';
import { commit, readHead } from '../src/protocol.js';
import { ValueKind, encodeValueFile } from '../src/value-file.js';
import { ModelFs, drive } from './model/actors.js';

/*
 * The remembered head (ProtocolOptions.knownHeads) is still the newest only if its slot has no
 * successor and is still at its path, checked in that order. The interleaving test's scenarios
 * compact on every commit, where a commit that completed has always compacted: this one has an
 * epoch of 3 slots, so a write can complete (slot 1) without compacting, and a later one compacts
 * (slot 2) while a reader is between its two checks.
 */

const KEY: KeyFolder = { dir: '/root/k~', parent: '/root' };
const value = (text: string): Uint8Array[] => encodeValueFile(ValueKind.VALUE, Buffer.from(text));
const text = (head: Head | undefined): string => Buffer.from(head?.data ?? []).toString();

function options(): ProtocolOptions {
  let names = 0;
  return {
    sealAt: 3,
    uniqueName: () => `n${names++}`,
    isAbandoned: () => false,
    epochHints: new Map(),
    knownHeads: new Map(),
  };
}

function write(fs: ModelFs, as: ProtocolOptions, data: string): void {
  const result = drive(
    fs,
    commit(KEY, () => ({ chunks: value(data), sync: true }), as),
  );
  if (!result.committed) throw new Error('not committed');
}

test('a reader that knows slot 0 reads a value committed after it, even when a compaction moves the epoch between its two checks', () => {
  const fs = new ModelFs();
  fs.mkdirs(KEY.parent);
  const reader = options();
  const writer = options();
  write(fs, reader, 'v0'); // e0/0, remembered by the reader's process
  write(fs, writer, 'v1'); // e0/1: completed, no compaction (an epoch holds 3 slots)
  // The reader's read starts after v1 completed: it must not return v0.
  const read = readHead(KEY, reader);
  let step = read.next();
  const first = step.value as FsOp;
  step = read.next(fs.perform(first));
  // Between its two checks, another write fills slot 2 and compacts: e0 is renamed away.
  write(fs, writer, 'v2');
  expect(fs.tree(KEY.dir).some((name) => name.startsWith('e0/'))).toBe(false);
  while (!step.done) step = read.next(fs.perform(step.value));
  const head = step.value as Head | undefined;
  expect(text(head)).toBe('v2'); // the newest; v1 would be linearizable too, v0 is not
  expect(first).toEqual({ op: 'stat', path: `${KEY.dir}/e0/1` });
});

test('a remembered head whose file was replaced by another one of the same name (a folder made again by hand) is not used', () => {
  const fs = new ModelFs();
  fs.mkdirs(KEY.parent);
  const reader = options();
  write(fs, reader, 'old');
  // The whole key folder deleted and made again with a value at the same slot.
  const replaced = new ModelFs();
  replaced.mkdirs(KEY.parent);
  write(replaced, options(), 'new');
  expect(text(drive(replaced, readHead(KEY, reader)))).toBe('new');
  expect(text(drive(fs, readHead(KEY, reader)))).toBe('old');
});

test('a remembered head is handed out as a copy: a caller changing the bytes changes nothing remembered', () => {
  const fs = new ModelFs();
  fs.mkdirs(KEY.parent);
  const reader = options();
  write(fs, reader, 'abc');
  const first = drive(fs, readHead(KEY, reader)) as Head;
  (first.data as Uint8Array)[0] = 'z'.charCodeAt(0);
  expect(text(drive(fs, readHead(KEY, reader)))).toBe('abc');
});

test('what is remembered stays within its bounds: no payload over 64 KB, at most 16 MB in all', () => {
  const fs = new ModelFs();
  fs.mkdirs(KEY.parent);
  const mine = options();
  write(fs, mine, 'x'.repeat(64 * 1024 + 1));
  expect(mine.knownHeads?.size).toBe(0);
  write(fs, mine, 'small');
  expect(mine.knownHeads?.get(KEY.dir)?.data.length).toBe(5);
  // 300 keys of 60 KB: 18 MB, so the map starts over on the way and ends under its bound.
  for (let i = 0; i < 300; i++) {
    const key: KeyFolder = { dir: `/root/k${i}~`, parent: '/root' };
    drive(
      fs,
      commit(key, () => ({ chunks: value('y'.repeat(60 * 1024)), sync: true }), mine),
    );
  }
  const total = [...(mine.knownHeads?.values() ?? [])].reduce((n, h) => n + h.data.length, 0);
  expect(total).toBeLessThanOrEqual(16 * 1024 * 1024);
  expect(mine.knownHeads?.size).toBeGreaterThan(0);
});
