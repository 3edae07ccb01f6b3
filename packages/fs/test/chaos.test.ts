import { spawn } from 'node:child_process';
import { join } from 'node:path';

// The random-stop chaos test (test/chaos/run-chaos.mjs), short; `pnpm chaos` runs it for longer.
const RUNNER = join(__dirname, 'chaos', 'run-chaos.mjs');
const WORKFLOW_RUNNER = join(__dirname, 'chaos', 'run-workflow-chaos.mjs');

function runChaos(
  args: string[],
  runner = RUNNER,
): Promise<{ code: number | null; summary: Record<string, unknown> }> {
  const child = spawn(process.execPath, [runner, ...args, '--json'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  return new Promise((resolve) =>
    child.on('exit', (code) =>
      resolve({
        code,
        summary: JSON.parse(out.trim().split('\n').pop() ?? '{}') as Record<string, unknown>,
      }),
    ),
  );
}

test('random SIGSTOP/SIGCONT and SIGKILL of 4 processes doing conditional and locked appends for 12 s: every acknowledged append present exactly once, no refused one present, every read committed', async () => {
  const { code, summary } = await runChaos(['--seconds', '12', '--processes', '4', '--fsync', '0']);
  expect(summary.failures).toEqual([]);
  expect(code).toBe(0);
  expect(summary.acknowledged).toBeGreaterThan(20);
  expect(summary.stops).toBeGreaterThan(20);
}, 120_000);

test('random SIGSTOP/SIGCONT (past the 50 ms lease) and SIGKILL of 4 processes claiming workflows and recording steps for 10 s: every acknowledged step in the final history at its position, every history a claim read a prefix of it', async () => {
  const { code, summary } = await runChaos(
    ['--seconds', '10', '--processes', '4', '--fsync', '0'],
    WORKFLOW_RUNNER,
  );
  expect(summary.failures).toEqual([]);
  expect(code).toBe(0);
  expect(summary.acknowledged).toBeGreaterThan(100);
  expect(summary.takeovers).toBeGreaterThan(0); // a lease expired and another process took over
  expect(summary.starts).toBeGreaterThan(0); // workflows started claimed (insertClaimed) too
}, 120_000);
