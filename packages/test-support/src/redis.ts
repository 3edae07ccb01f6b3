// TEST INFRASTRUCTURE: a real redis-server for the tests. Uses REDIS_URL when set (a developer's
// own server); otherwise spawns `redis-server` (Debian's package) on 127.0.0.1 and a free port,
// without persistence, and stops it by PID.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import { freePort } from './external-server.js';

/** A Redis server the tests can talk to. */
export interface RedisTestServer {
  /** `redis://127.0.0.1:<port>` (or REDIS_URL). */
  readonly url: string;
  readonly port: number;
  /** PID of the server we started; undefined for REDIS_URL. */
  readonly pid: number | undefined;
  /** False for a server we started, true for REDIS_URL (then kill/restart reject). */
  readonly external: boolean;
  /** Stops the server (SIGTERM, then SIGKILL after 3 s); a no-op for REDIS_URL. */
  stop(): Promise<void>;
  /** Kills the server at once (SIGKILL), as a crash would; its data is gone (no persistence). */
  kill(): Promise<void>;
  /** Starts a fresh server on the same port after kill() or stop(). */
  restart(): Promise<void>;
}

/** Options for {@link startRedisServer}. */
export interface StartRedisOptions {
  /** Ignore REDIS_URL and always start a server of our own (for kill/restart tests). @default false */
  own?: boolean;
  /** Extra redis-server arguments, e.g. ['--notify-keyspace-events', 'Kg']. */
  args?: string[];
}

/** Starts (or connects to, with REDIS_URL) a Redis server for the tests. */
export async function startRedisServer(options: StartRedisOptions = {}): Promise<RedisTestServer> {
  const fromEnv = process.env.REDIS_URL;
  if (fromEnv !== undefined && fromEnv !== '' && options.own !== true) {
    const port = Number(new URL(fromEnv).port || 6379);
    const external = (): Promise<void> =>
      Promise.reject(new Error('REDIS_URL is external: cannot kill or restart it'));
    return {
      url: fromEnv,
      port,
      pid: undefined,
      external: true,
      stop: () => Promise.resolve(),
      kill: external,
      restart: external,
    };
  }
  const extra = options.args ?? [];
  let port = await freePort();
  let child: ChildProcess | undefined;
  for (let attempt = 0; ; attempt++) {
    try {
      child = await spawnRedis(port, extra);
      break;
    } catch (error) {
      // Another process may have taken the port between freePort() and the bind.
      if (attempt >= 4) throw error;
      port = await freePort();
    }
  }
  // Never leave a server behind when the process ends without stop() (a failed bench or test).
  process.once('exit', () => child?.kill('SIGKILL'));
  const server = {
    url: `redis://127.0.0.1:${port}`,
    port,
    external: false,
    get pid(): number | undefined {
      return child?.pid;
    },
    stop: async (): Promise<void> => {
      if (child !== undefined) await end(child, 'SIGTERM');
      child = undefined;
    },
    kill: async (): Promise<void> => {
      if (child !== undefined) await end(child, 'SIGKILL');
      child = undefined;
    },
    restart: async (): Promise<void> => {
      if (child !== undefined) await end(child, 'SIGKILL');
      child = await spawnRedis(port, extra);
    },
  };
  return server;
}

async function spawnRedis(port: number, extra: string[]): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--protected-mode',
      'no',
      ...extra,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const collect = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<never>((_, reject) => {
    child.once('error', (error) =>
      reject(new Error(`redis-server could not start (is it installed?): ${error.message}`)),
    );
    child.once('exit', (code) =>
      reject(new Error(`redis-server exited with ${String(code)}: ${output}`)),
    );
  });
  exited.catch(() => undefined);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ready = await Promise.race([ping(port), exited]);
    if (ready) {
      child.removeAllListeners('exit');
      return child;
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server on port ${port} did not answer PING in 10 s: ${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

async function end(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}
