// TEST INFRASTRUCTURE: runs the built `durable` bin in a child process, as a user would.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { pathToFileURL } from 'node:url';

/** The built bin (`pnpm build` first; turbo's test task builds it). */
export const BIN = join(__dirname, '..', '..', 'dist', 'esm', 'bin.js');

/** What a run of the bin printed and its exit code. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `durable ...args` in `cwd`; never rejects on a non-zero exit. */
export function durable(
  args: string[],
  options: { cwd: string; env?: Record<string, string> },
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '', ...options.env };
    if (options.env?.['FORCE_COLOR'] === undefined) delete env['FORCE_COLOR'];
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: options.cwd, env, maxBuffer: 64 * 1024 * 1024, timeout: 120_000 },
      (error, stdout, stderr) => {
        if (error !== null && typeof error.code !== 'number') return reject(error);
        resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr });
      },
    );
  });
}

/** A fresh temporary folder, removed by {@link cleanup}. */
const folders: string[] = [];
export function tempFolder(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `durable-cli-${label}-`));
  folders.push(dir);
  return dir;
}

/** Removes the folders made by {@link tempFolder}. */
export function cleanup(): void {
  for (const dir of folders.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** The file URL of a package's ESM entry, for config files written into temporary folders. */
export function moduleUrl(specifier: string): string {
  return pathToFileURL(
    require.resolve(specifier).replace(`dist${sep}cjs${sep}`, `dist${sep}esm${sep}`),
  ).href;
}

/** Writes `durable.config.mjs` with `body` into `dir`. */
export function writeConfig(dir: string, body: string, name = 'durable.config.mjs'): string {
  const file = join(dir, name);
  writeFileSync(file, body);
  return file;
}
