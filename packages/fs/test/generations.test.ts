import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KEEP_GENERATIONS, KEEP_MS, commitGeneration, currentGeneration, unlinkQuietly, writeTemp } from '../src/generations.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'durable-gen-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function commitNext(): Promise<number> {
  const temp = await writeTemp(dir, [Buffer.from('x')], false);
  try {
    const { file, listing } = currentGeneration(dir);
    if (!commitGeneration(dir, file, temp, listing)) throw new Error('unexpected conflict');
    return file.gen + 1;
  } finally {
    unlinkQuietly(temp);
  }
}

test('a writer paused while history moved on and was collected cannot commit an orphan into a freed slot', async () => {
  // The paused writer read generation 1 and prepared its file...
  await commitNext();
  const stale = currentGeneration(dir);
  const staleTemp = await writeTemp(dir, [Buffer.from('late')], false);
  // ...meanwhile others commit far ahead, and old generations (1 and 2 among them) are deleted.
  for (let i = 0; i < KEEP_GENERATIONS + 20; i++) await commitNext();
  await new Promise((resolve) => setTimeout(resolve, KEEP_MS + 20));
  const top = await commitNext();
  expect(existsSync(join(dir, String(stale.file.gen + 1)))).toBe(false); // its slot is free again
  // It resumes: the link into the freed slot succeeds, the check finds its base gone, and undoes it.
  expect(commitGeneration(dir, stale.file, staleTemp, stale.listing)).toBe(false);
  unlinkQuietly(staleTemp);
  expect(existsSync(join(dir, String(stale.file.gen + 1)))).toBe(false);
  expect(currentGeneration(dir).file.gen).toBe(top);
}, 10_000);

test('the last KEEP_GENERATIONS generations, and any superseded less than KEEP_MS ago, are kept; older ones are collected in batches', async () => {
  for (let i = 0; i < KEEP_GENERATIONS + 10; i++) await commitNext();
  expect(readdirSync(dir).length).toBe(KEEP_GENERATIONS + 11); // 0 .. top: nothing collected yet
  let top = 0;
  for (let i = 0; i < 200; i++) top = await commitNext();
  await new Promise((resolve) => setTimeout(resolve, KEEP_MS + 20));
  for (let i = 0; i < 16; i++) top = await commitNext();
  const left = readdirSync(dir).map(Number).sort((a, b) => a - b);
  expect(left[left.length - 1]).toBe(top);
  expect(left.length).toBeGreaterThan(KEEP_GENERATIONS);
  expect(left.length).toBeLessThan(KEEP_GENERATIONS + 17);
  expect(left).toEqual(Array.from({ length: left.length }, (_, i) => top - left.length + 1 + i)); // contiguous
});
