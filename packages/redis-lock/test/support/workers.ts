// TEST INFRASTRUCTURE: starts redis-worker.mjs processes and reads their JSON event lines.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** One JSON line a worker printed. */
export type WorkerEvent = Record<string, unknown> & { event: string };

/** A worker process and every event it printed so far. */
export interface Worker {
  readonly child: ChildProcess;
  readonly events: WorkerEvent[];
  /** Resolves with the next event matching `name` (or one already printed and not yet taken). */
  next(name: string, timeoutMs?: number): Promise<WorkerEvent>;
  /** Resolves when the process exits with 0; rejects with its stderr otherwise. */
  finished(): Promise<void>;
}

const SCRIPT = join(__dirname, '..', 'fixtures', 'redis-worker.mjs');

/** Starts `node redis-worker.mjs mode url ...args`. */
export function startWorker(mode: string, url: string, args: string[] = []): Worker {
  const child = spawn(process.execPath, [SCRIPT, mode, url, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const events: WorkerEvent[] = [];
  const taken = new Set<WorkerEvent>();
  const waiters: Array<() => void> = [];
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    events.push(JSON.parse(line) as WorkerEvent);
    for (const wake of waiters.splice(0)) wake();
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    events,
    next(name, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no "${name}" event in ${timeoutMs} ms; stderr: ${stderr}`)),
          timeoutMs,
        );
        const check = (): void => {
          const found = events.find((e) => e.event === name && !taken.has(e));
          if (found !== undefined) {
            taken.add(found);
            clearTimeout(timer);
            resolve(found);
          } else {
            waiters.push(check);
          }
        };
        check();
      });
    },
    async finished() {
      const code = await exit;
      if (code !== 0) throw new Error(`worker ${mode} exited with ${String(code)}: ${stderr}`);
    },
  };
}
