// TEST INFRASTRUCTURE: starts a server that is a program of its own (FerretDB from `go install`,
// moto from pip, redis-server from Debian) on 127.0.0.1 and a free port, and stops it by PID.
// Shared by the tests of several packages (Mongo, S3, DynamoDB, Redis).
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { wrapChildServer } from '@durable/testkit';

/** A server program running in a child process. */
export interface ExternalServer {
  readonly port: number;
  readonly pid: number;
  /** Stops the server (SIGTERM, then SIGKILL after 3 s). */
  stop(): Promise<void>;
  /** Kills the server at once (SIGKILL), as a crash would. */
  kill(): Promise<void>;
}

/** How to start one server program. */
export interface ExternalServerSpec {
  /** Name for messages, e.g. "ferretdb". */
  name: string;
  /** Absolute path of the program. */
  command: string;
  /** Its arguments for a given port. */
  args(port: number): string[];
  /** Resolves true once the server answers on the port. @default a TCP connect succeeds */
  ready?: (port: number) => Promise<boolean>;
  /** Extra environment for the child. */
  env?: NodeJS.ProcessEnv;
  /** How long to wait for readiness. @default 30000 */
  startTimeoutMs?: number;
  /**
   * Listen on this port rather than a free one (to restart a server where its clients expect
   * it); then no other port is tried. @default a free port
   */
  port?: number;
}

/**
 * The absolute path of `name` on PATH, else in Go's bin folder (`$GOBIN`, `$GOPATH/bin`,
 * `go env GOPATH`/bin, ~/go/bin), since `go install` puts binaries there and it is often not on
 * PATH; undefined when it is nowhere.
 */
export function findExecutable(
  name: string,
  options: { goBin?: boolean } = {},
): string | undefined {
  const folders = (process.env.PATH ?? '').split(delimiter).filter((folder) => folder !== '');
  if (options.goBin === true) folders.push(...goBinFolders());
  for (const folder of folders) {
    const candidate = join(folder, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

function goBinFolders(): string[] {
  const folders: string[] = [];
  if (process.env.GOBIN) folders.push(process.env.GOBIN);
  if (process.env.GOPATH)
    folders.push(...process.env.GOPATH.split(delimiter).map((path) => join(path, 'bin')));
  try {
    const path = execFileSync('go', ['env', 'GOPATH'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 10_000,
    }).trim();
    if (path !== '') folders.push(...path.split(delimiter).map((entry) => join(entry, 'bin')));
  } catch {
    // no Go toolchain: only the default folder below
  }
  folders.push(join(homedir(), 'go', 'bin'));
  return folders;
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/** A request to send once connected, and the test of the reply's first chunk. */
export interface TcpProbe {
  /** Bytes to send, e.g. "PING\r\n". */
  send: string;
  /** Whether the first data received is the expected answer. */
  answered(reply: string): boolean;
}

/**
 * Whether something accepts TCP connections on 127.0.0.1:port (and, given a `probe`, answers its
 * request as expected), within 1 s.
 */
export function tcpOpen(port: number, probe?: TcpProbe): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => {
      if (probe === undefined) done(true);
      else socket.write(probe.send);
    });
    if (probe !== undefined)
      socket.once('data', (data: Buffer) => done(probe.answered(data.toString())));
  });
}

/**
 * Starts the server on a free port (a new port if another process took it first), or on
 * `spec.port` when given.
 */
export async function startExternalServer(spec: ExternalServerSpec): Promise<ExternalServer> {
  for (let attempt = 0; ; attempt++) {
    const port = spec.port ?? (await freePort());
    try {
      const child = await spawnAndWait(spec, port);
      return wrapChildServer(child, port);
    } catch (error) {
      if (spec.port !== undefined || attempt >= 3) throw error;
    }
  }
}

async function spawnAndWait(spec: ExternalServerSpec, port: number): Promise<ChildProcess> {
  const child = spawn(spec.command, spec.args(port), {
    env: { ...process.env, ...spec.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<never>((_, reject) => {
    child.once('error', (error) =>
      reject(new Error(`${spec.name} could not start: ${error.message}`)),
    );
    child.once('exit', (code, signal) =>
      reject(new Error(`${spec.name} exited with ${String(code ?? signal)}: ${output}`)),
    );
  });
  exited.catch(() => undefined);
  const ready = spec.ready ?? tcpOpen;
  const deadline = Date.now() + (spec.startTimeoutMs ?? 30_000);
  for (;;) {
    if (await Promise.race([ready(port), exited])) {
      child.removeAllListeners('exit');
      // Keep draining its output, or a chatty server blocks on a full pipe.
      child.stdout?.resume();
      child.stderr?.resume();
      return child;
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(
        `${spec.name} on port ${port} was not ready in ${
          spec.startTimeoutMs ?? 30_000
        } ms: ${output}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
