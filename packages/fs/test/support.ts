import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const WORKER = join(__dirname, 'fixtures', 'worker.mjs');

/** Starts the worker fixture in its own OS process. */
export function startWorker(args: string[]): ChildProcess {
  return spawn(process.execPath, [WORKER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
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

/** The first line the process prints. */
export function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const end = buffer.indexOf('\n');
      if (end !== -1) resolve(buffer.slice(0, end));
    });
    child.on('exit', (code) => reject(new Error(`worker exited (${code}) before printing`)));
  });
}
