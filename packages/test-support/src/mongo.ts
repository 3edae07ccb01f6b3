// TEST INFRASTRUCTURE: MongoDB-wire servers for the tests. MONGODB_URI when set (a developer's own
// MongoDB); otherwise one started here on 127.0.0.1 and a free port, with its data in a temporary
// folder, stopped by PID:
// - mongo-java-server 1.46 (Java, in memory; scripts/install-mongo-java-server.sh), whose updates
//   are atomic, so the conformance suites' races mean what they say;
// - FerretDB 1.24 with SQLite (scripts/install-ferretdb.sh), which applies an update by reading
//   the matching documents and writing them back by _id, not atomically: its runs skip the
//   race tests (see packages/mongo/README.md).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExternalServer } from './external-server.js';
import { findExecutable, startExternalServer } from './external-server.js';
import { SERVERS } from './paths.js';

/** Which server a test wants. */
export type MongoServerKind = 'mongo-java-server' | 'ferretdb';

/** Where the tests' MongoDB-wire server is. */
export interface MongoTestServer {
  /** `mongodb://127.0.0.1:<port>/` (or MONGODB_URI). */
  readonly uri: string;
  /** What serves it, for messages. */
  readonly label: string;
  /** PID of the server we started; undefined for MONGODB_URI. */
  readonly pid: number | undefined;
  /** Stops the server we started and removes its data (a no-op for MONGODB_URI). */
  stop(): Promise<void>;
}

type Availability = { available: true; label: string } | { available: false; reason: string };

const JAVA_JARS = join(
  process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'),
  'durable',
  'mongo-java-server-1.46.0',
);
const JAVA_MAIN = join(SERVERS, 'mongo-java-server', 'MongoJavaServerMain.java');

/** Whether the tests can get a server of this kind (no I/O beyond file checks: decided when tests are registered). */
export function mongoTestServerAvailability(
  kind: MongoServerKind,
  options: { useUri?: boolean } = {},
): Availability {
  if (options.useUri !== false && uriFromEnv() !== undefined)
    return { available: true, label: 'MONGODB_URI' };
  if (kind === 'ferretdb') {
    return findExecutable('ferretdb', { goBin: true }) !== undefined
      ? { available: true, label: 'FerretDB 1.24.2 (SQLite)' }
      : {
          available: false,
          reason: 'ferretdb is not installed (bash scripts/install-ferretdb.sh, needs Go)',
        };
  }
  if (findExecutable('java') === undefined)
    return {
      available: false,
      reason: 'java is not installed (set MONGODB_URI, or install Java 17)',
    };
  if (!existsSync(join(JAVA_JARS, 'mongo-java-server-1.46.0.jar'))) {
    return {
      available: false,
      reason:
        'mongo-java-server is not fetched (bash scripts/install-mongo-java-server.sh, needs Maven)',
    };
  }
  return { available: true, label: 'mongo-java-server 1.46.0 (memory)' };
}

/** Starts a server of this kind (or uses MONGODB_URI unless `useUri` is false); throws when unavailable. */
export async function startMongoTestServer(
  kind: MongoServerKind,
  options: { useUri?: boolean } = {},
): Promise<MongoTestServer> {
  const availability = mongoTestServerAvailability(kind, options);
  if (!availability.available) throw new Error(availability.reason);
  const fromEnv = uriFromEnv();
  if (options.useUri !== false && fromEnv !== undefined) {
    return { uri: fromEnv, label: 'MONGODB_URI', pid: undefined, stop: () => Promise.resolve() };
  }
  const directory = mkdtempSync(join(tmpdir(), `durable-${kind}-`));
  let server: ExternalServer;
  try {
    server = kind === 'ferretdb' ? await startFerretDb(directory) : await startMongoJavaServer();
  } catch (error) {
    rmSync(directory, { recursive: true, force: true });
    throw error;
  }
  return {
    uri: `mongodb://127.0.0.1:${server.port}/`,
    label: availability.label,
    pid: server.pid,
    stop: async () => {
      await server.stop();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

function uriFromEnv(): string | undefined {
  const uri = process.env.MONGODB_URI;
  return uri === undefined || uri === '' ? undefined : uri;
}

function startFerretDb(directory: string): Promise<ExternalServer> {
  return startExternalServer({
    name: 'ferretdb',
    command: findExecutable('ferretdb', { goBin: true }) as string,
    args: (port) => [
      '--handler=sqlite',
      `--sqlite-url=file:${directory}/`,
      `--state-dir=${directory}`,
      `--listen-addr=127.0.0.1:${port}`,
      // No debug HTTP listener (it would take a fixed port) and no telemetry.
      '--debug-addr=-',
      '--telemetry=disable',
      '--log-level=error',
    ],
  });
}

function startMongoJavaServer(): Promise<ExternalServer> {
  return startExternalServer({
    name: 'mongo-java-server',
    command: findExecutable('java') as string,
    // Single-file source launch: compiled in memory at start (a second or two), nothing to build.
    args: (port) => [
      '-Xss512k',
      '-XX:+UseSerialGC',
      '-cp',
      `${JAVA_JARS}/*`,
      JAVA_MAIN,
      String(port),
    ],
    startTimeoutMs: 60_000,
  });
}

/**
 * For jest test files: whether a server of this kind can be had; when not, registers one passing
 * test whose name says SKIPPED, and warns, so a run without the server says so loudly.
 */
export function mongoServerOrSkip(
  what: string,
  kind: MongoServerKind,
  options: { useUri?: boolean } = {},
): boolean {
  const availability = mongoTestServerAvailability(kind, options);
  if (availability.available) return true;
  const message = `SKIPPED: ${what}: ${availability.reason}`;
  test(message, () => {
    console.warn(`@durable/mongo: ${message}`);
    expect(availability.available).toBe(false);
  });
  return false;
}
