// Starts a test server script in a child process and stops or kills it: how an adapter's tests
// start the real server they run against (our S3 and DynamoDB tests start s3rver and dynalite
// this way), and crash it for outage tests.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/** A server running in a child process. */
export interface ChildServer {
  readonly port: number;
  readonly pid: number;
  /** Stops the server (SIGTERM, then SIGKILL after 3 s). */
  stop(): Promise<void>;
  /** Kills the server at once (SIGKILL), as a crash would. */
  kill(): Promise<void>;
}

/**
 * Spawns `node script ...args` (with `env` added to this process's environment) and resolves once
 * the script printed its first stdout line, `{"port": N}`, after it started listening. Rejects
 * with the script's last stderr when it exits first, prints anything else, or takes over 20 s.
 *
 * @example
 * // server.cjs: require('dynalite')().listen(0, '127.0.0.1', function () {
 * //   console.log(JSON.stringify({ port: this.address().port }));
 * // });
 * const server = await startChildServer(require.resolve('./server.cjs'), []);
 * // ... tests against 127.0.0.1:server.port; server.kill() for an outage ...
 * await server.stop();
 */
export function startChildServer(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<ChildServer> {
  const child = spawn(process.execPath, [script, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} did not start in 20 s: ${stderr}`));
    }, 20_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${String(code)} before listening: ${stderr}`));
    });
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => {
      clearTimeout(timer);
      child.removeAllListeners('exit');
      try {
        const { port } = JSON.parse(line) as { port: number };
        resolve(wrapChildServer(child, port));
      } catch (error) {
        child.kill('SIGKILL');
        reject(new Error(`${script} printed ${line}: ${String(error)}`));
      }
    });
  });
}

/**
 * A {@link ChildServer} over a child process already listening on `port`: `stop()` sends SIGTERM
 * (SIGKILL after 3 s), `kill()` SIGKILL, and each resolves once the process has exited. For
 * launchers of servers that are not node scripts (they spawn and wait for readiness themselves).
 */
export function wrapChildServer(child: ChildProcess, port: number): ChildServer {
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  const end = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  };
  return {
    port,
    pid: child.pid ?? -1,
    stop: () => end('SIGTERM'),
    kill: () => end('SIGKILL'),
  };
}
