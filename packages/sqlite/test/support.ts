import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const folders: string[] = [];

/** A fresh database path in a temporary folder, removed after the file's tests. */
export function freshDatabase(name = 'durable.db'): string {
  const folder = mkdtempSync(join(tmpdir(), 'durable-sqlite-'));
  folders.push(folder);
  return join(folder, name);
}

afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

const WORKER = join(__dirname, 'fixtures', 'worker.mjs');

/** Starts the worker fixture in its own OS process (stdin open for the test's "go"). */
export function startWorker(args: string[]): ChildProcess {
  return spawn(process.execPath, [WORKER, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Resolves when the process exits with code 0; rejects with its stderr otherwise. */
export function finished(child: ChildProcess): Promise<void> {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.on('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`worker exited with ${code ?? signal}: ${stderr}`)),
    );
  });
}

/** The lines the process prints, one at a time. */
export function lineReader(child: ChildProcess): () => Promise<string> {
  const ready: string[] = [];
  const waiting: Array<(line: string) => void> = [];
  let buffer = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    for (let end = buffer.indexOf('\n'); end !== -1; end = buffer.indexOf('\n')) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 1);
      const next = waiting.shift();
      if (next === undefined) ready.push(line);
      else next(line);
    }
  });
  return () =>
    ready.length > 0
      ? Promise.resolve(ready.shift() as string)
      : new Promise((resolve) => waiting.push(resolve));
}
