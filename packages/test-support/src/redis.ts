// TEST INFRASTRUCTURE: a real redis-server for the tests. Uses REDIS_URL when set (a developer's
// own server); otherwise starts `redis-server` (Debian's package) on 127.0.0.1 and a free port,
// without persistence, through startExternalServer (ready once it answers PING), and stops it
// by PID.
import type { ExternalServer } from './external-server.js';
import { findExecutable, startExternalServer, tcpOpen } from './external-server.js';

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
  const command = findExecutable('redis-server');
  if (command === undefined) {
    throw new Error(
      'redis-server is not installed: install it (e.g. apt-get install redis-server) or set REDIS_URL',
    );
  }
  const spec = {
    name: 'redis-server',
    command,
    args: (port: number): string[] => [
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
    ready: (port: number): Promise<boolean> =>
      tcpOpen(port, { send: 'PING\r\n', answered: (reply) => reply.startsWith('+PONG') }),
  };
  let current: ExternalServer | undefined = await startExternalServer(spec);
  const { port } = current;
  // Never leave a server behind when the process ends without stop() (a failed bench or test).
  process.once('exit', () => {
    try {
      if (current !== undefined) process.kill(current.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  });
  const end = async (how: 'stop' | 'kill'): Promise<void> => {
    const server = current;
    current = undefined;
    if (server !== undefined) await server[how]();
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    external: false,
    get pid(): number | undefined {
      return current?.pid;
    },
    stop: () => end('stop'),
    kill: () => end('kill'),
    restart: async (): Promise<void> => {
      await end('kill');
      current = await startExternalServer({ ...spec, port });
    },
  };
}
