// TEST INFRASTRUCTURE: the PostgreSQL server of the tests. DATABASE_URL when set (a server of your
// own: each test file then works in schemas of its own, and the tests that stop the server are
// skipped); otherwise a throwaway cluster of Debian's postgresql, made with initdb in a temporary
// folder (as the postgres user when run as root: the server refuses to run as root), listening on
// 127.0.0.1 on a free port, stopped and removed when the file's tests end. fsync is off in this
// throwaway cluster only (the tests stop and restart the server, they do not cut the power).
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './external-server.js';

/** A PostgreSQL server for a test file. */
export interface TestPostgres {
  /** `postgresql://...` of the database the tests use. */
  readonly url: string;
  /** What serves it, for messages. */
  readonly label: string;
  /** True when the tests started it (so they may stop and restart it). */
  readonly own: boolean;
  /** Stops the server (`fast`: connections are ended; `immediate`: as a crash). Own server only. */
  stopServer(mode?: 'fast' | 'immediate'): void;
  /** Starts it again on the same port with the same data. Own server only. */
  startServer(): void;
  /** Stops it for good and removes its folder. */
  stop(): Promise<void>;
  /** The URL of another database on the same server (benches keep each peer in its own). */
  urlFor(database: string): string;
  /**
   * CPU time (user + system, ms) used so far by the server's postmaster and its live children
   * (backends, WAL writer...); NaN for DATABASE_URL. Exited children are not counted: read it
   * while the connections of the work being measured are still open.
   */
  serverCpuMs(): number;
}

/** Options for {@link startTestPostgres}. */
export interface StartPostgresOptions {
  /**
   * fsync of the throwaway cluster. Off for tests (they stop and restart the server; they do
   * not cut the power); benches turn it on, to measure with PostgreSQL's default durability.
   * @default false
   */
  fsync?: boolean;
}

type Availability = { available: true } | { available: false; reason: string };

function binDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root).filter((name) => existsSync(join(root, name, 'bin', 'initdb')))
    : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  return newest === undefined ? undefined : join(root, newest, 'bin');
}

/** Whether the tests can have a server (decided when tests are registered; no I/O beyond file checks). */
export function postgresAvailability(): Availability {
  if (process.env.DATABASE_URL !== undefined && process.env.DATABASE_URL !== '')
    return { available: true };
  if (binDir() === undefined)
    return {
      available: false,
      reason:
        'PostgreSQL is not installed (apt-get install -y postgresql) and DATABASE_URL is not set',
    };
  if (process.getuid?.() === 0) {
    try {
      execFileSync('id', ['-u', 'postgres'], { stdio: 'ignore' });
    } catch {
      return {
        available: false,
        reason: 'running as root and there is no postgres user to run the server as',
      };
    }
  }
  return { available: true };
}

/** True when a server can be had; otherwise registers one passing test named SKIPPED and warns. */
export function postgresOrSkip(what: string, options: { ownServer?: boolean } = {}): boolean {
  const availability = postgresAvailability();
  let reason = availability.available ? undefined : availability.reason;
  if (reason === undefined && options.ownServer === true && process.env.DATABASE_URL) {
    reason =
      'DATABASE_URL is set, and these tests stop and restart the server, which they only do to a server they started';
  }
  if (reason === undefined) return true;
  const message = `SKIPPED: ${what}: ${reason}`;
  test(message, () => {
    console.warn(`@durable/postgres: ${message}`);
    expect(reason).toBeDefined();
  });
  return false;
}

/** Starts the file's server (or uses DATABASE_URL). */
export async function startTestPostgres(options: StartPostgresOptions = {}): Promise<TestPostgres> {
  const fromEnv = process.env.DATABASE_URL;
  if (fromEnv !== undefined && fromEnv !== '') {
    const refuse = (): never => {
      throw new Error('the server of DATABASE_URL is not ours to stop');
    };
    return {
      url: fromEnv,
      label: 'DATABASE_URL',
      own: false,
      stopServer: refuse,
      startServer: refuse,
      stop: () => Promise.resolve(),
      urlFor: (database) => fromEnv.replace(/\/[^/]*$/, `/${database}`),
      serverCpuMs: () => Number.NaN,
    };
  }
  const bin = binDir();
  if (bin === undefined) throw new Error('PostgreSQL is not installed');
  const dir = mkdtempSync(join(tmpdir(), 'durable-pg-test-'));
  const root = process.getuid?.() === 0;
  if (root) {
    const id = (flag: string): number =>
      Number(execFileSync('id', [flag, 'postgres']).toString().trim());
    chownSync(dir, id('-u'), id('-g'));
  }
  const run = (command: string): void => {
    if (root)
      execFileSync('su', ['postgres', '-c', command], { stdio: ['ignore', 'pipe', 'pipe'] });
    else execFileSync('sh', ['-c', command], { stdio: ['ignore', 'pipe', 'pipe'] });
  };
  const data = join(dir, 'data');
  const port = await freePort();
  run(`${bin}/initdb -D ${data} -U postgres --auth=trust -E UTF8 --locale=C >/dev/null`);
  const settings = `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=${options.fsync === true ? 'on' : 'off'} -c max_connections=300`;
  const startServer = (): void =>
    run(`${bin}/pg_ctl -D ${data} -l ${dir}/log -w -t 60 -o "${settings}" start >/dev/null`);
  const stopServer = (mode: 'fast' | 'immediate' = 'fast'): void =>
    run(`${bin}/pg_ctl -D ${data} -m ${mode} -w -t 60 stop >/dev/null`);
  startServer();
  let stopped = false;
  const cleanUp = (): void => {
    if (stopped) return;
    stopped = true;
    try {
      stopServer('immediate');
    } catch {
      // Already stopped.
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', cleanUp);
  // A run stopped by a signal leaves no server behind either.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      cleanUp();
      process.exit(1);
    });
  }
  const version = execFileSync(`${bin}/postgres`, ['--version']).toString().trim();
  return {
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    label: version,
    own: true,
    stopServer,
    startServer,
    stop: () => Promise.resolve(cleanUp()),
    urlFor: (database) => `postgresql://postgres@127.0.0.1:${port}/${database}`,
    serverCpuMs: () => processTreeCpuMs(postmasterPid(data)),
  };
}

function postmasterPid(data: string): number {
  try {
    return Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return Number.NaN;
  }
}

let tickMs: number | undefined;

/** CPU ms of a process and its live children, from /proc (Linux). */
function processTreeCpuMs(parent: number): number {
  if (Number.isNaN(parent)) return Number.NaN;
  tickMs ??= 1000 / Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());
  let ticks = 0;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    // Fields after the command name (which may hold spaces, inside parentheses).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const pid = Number(name);
    if (pid === parent || Number(fields[1]) === parent)
      ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks * tickMs;
}

let counter = 0;

/** A schema name no other test (nor test run, on a shared DATABASE_URL) uses. */
export function uniqueSchema(label = 't'): string {
  return `${label}_${process.pid}_${Date.now().toString(36)}_${counter++}`;
}
