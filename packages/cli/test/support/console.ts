// TEST INFRASTRUCTURE: starts `durable console` (the real bin) in a child process and reads its URL.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { BIN } from './cli.js';

/** A console started by {@link startConsoleProcess}. */
export interface ConsoleProcess {
  url: string;
  origin: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Runs `durable console --port 0 ...args` in `cwd` and resolves once it prints its URL. */
export function startConsoleProcess(cwd: string, args: string[] = []): Promise<ConsoleProcess> {
  const child = spawn(process.execPath, [BIN, 'console', '--port', '0', ...args], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  return new Promise((resolve, reject) => {
    child.once('exit', (code) =>
      reject(new Error(`durable console exited with ${code}: ${stderr}`)),
    );
    createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => {
      stderr += `${line}\n`;
      const match = /durable console on (http:\/\/\S+)/.exec(line);
      if (match === null) return;
      child.removeAllListeners('exit');
      const url = match[1] as string;
      resolve({
        url,
        origin: new URL(url).origin,
        child,
        stop: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGTERM');
          }),
      });
    });
  });
}
