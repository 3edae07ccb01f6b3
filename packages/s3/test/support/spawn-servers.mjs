// TEST AND BENCHMARK INFRASTRUCTURE (plain ESM, no TypeScript): starts s3rver with our
// conditional-write layer and dynalite as child processes on 127.0.0.1, for bench/*.bench.mjs.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

function startChild(script, args, env = {}) {
  const child = spawn(process.execPath, [script, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
    createInterface({ input: child.stdout }).once('line', (line) => {
      child.removeAllListeners('exit');
      const { port } = JSON.parse(line);
      resolve({
        port,
        pid: child.pid,
        stop: () =>
          new Promise((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGTERM');
          }),
      });
    });
  });
}

/** s3rver + conditional layer; resolves `{ endpoint, bucket, stop() }`. */
export async function startS3rverProcess(bucket = 'durable-bench') {
  const directory = mkdtempSync(join(tmpdir(), 'durable-bench-s3-'));
  const server = await startChild(join(here, 's3-test-server.cjs'), [directory], {
    NODE_OPTIONS: '--openssl-legacy-provider',
    S3_TEST_BUCKETS: bucket,
  });
  return {
    endpoint: `http://127.0.0.1:${server.port}`,
    bucket,
    async stop() {
      await server.stop();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** dynalite in memory; resolves `{ endpoint, stop() }`. */
export async function startDynaliteProcess() {
  const script = join(
    here,
    '..',
    '..',
    '..',
    'dynamo-lock',
    'test',
    'support',
    'dynalite-server.cjs',
  );
  const server = await startChild(script, ['-']);
  return { endpoint: `http://127.0.0.1:${server.port}`, stop: () => server.stop() };
}
