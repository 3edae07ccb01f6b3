// TEST INFRASTRUCTURE: moto's server (`moto_server`, pip install 'moto[server]==5.2.5'), an
// S3 / DynamoDB emulator written independently of us, on 127.0.0.1 and a free port, stopped by
// PID. MOTO_ENDPOINT, when set, names a moto server already running instead.
import { request } from 'node:http';
import { join } from 'node:path';
import type { ExternalServer } from './external-server.js';
import { findExecutable, startExternalServer } from './external-server.js';
import { SERVERS } from './paths.js';

/** A moto server the tests can talk to. */
export interface MotoTestServer {
  /** `http://127.0.0.1:<port>` (or MOTO_ENDPOINT). */
  readonly endpoint: string;
  /** PID of the server we started; undefined for MOTO_ENDPOINT. */
  readonly pid: number | undefined;
  /** Stops the server we started (a no-op for MOTO_ENDPOINT). */
  stop(): Promise<void>;
}

/** Whether moto can be had (decided without I/O, when the tests are registered). */
export function motoAvailability(): { available: true } | { available: false; reason: string } {
  if ((process.env.MOTO_ENDPOINT ?? '') !== '' || findExecutable('moto_server') !== undefined)
    return { available: true };
  return {
    available: false,
    reason: "moto_server is not installed (pip install 'moto[server]==5.2.5', needs Python)",
  };
}

/** Options for {@link startMoto}. */
export interface StartMotoOptions {
  /**
   * Serve one request at a time (servers/moto_serial.py) instead of `moto_server`'s
   * threads: moto checks write conditions and then writes without a lock, so only a serial server
   * makes a conditional write atomic. @default true
   */
  serial?: boolean;
}

/** Starts moto (or uses MOTO_ENDPOINT); throws when neither is available. */
export async function startMoto(options: StartMotoOptions = {}): Promise<MotoTestServer> {
  const fromEnv = process.env.MOTO_ENDPOINT;
  if (fromEnv !== undefined && fromEnv !== '')
    return { endpoint: fromEnv, pid: undefined, stop: () => Promise.resolve() };
  const command = findExecutable('moto_server');
  if (command === undefined)
    throw new Error("moto_server is not installed (pip install 'moto[server]==5.2.5')");
  const serial = options.serial !== false;
  // The serial launcher imports moto, so it needs the Python that has moto: the one moto_server runs.
  const python = findExecutable('python3') ?? 'python3';
  const server: ExternalServer = await startExternalServer({
    name: serial ? 'moto (serial)' : 'moto_server',
    command: serial ? python : command,
    args: (port) =>
      serial
        ? [join(SERVERS, 'moto_serial.py'), '127.0.0.1', String(port)]
        : ['-H', '127.0.0.1', '-p', String(port)],
    ready: answersHttp,
    startTimeoutMs: 60_000,
  });
  return {
    endpoint: `http://127.0.0.1:${server.port}`,
    pid: server.pid,
    stop: () => server.stop(),
  };
}

// moto's own API answers once the server is up (a bare TCP accept comes a little earlier).
function answersHttp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/moto-api/', method: 'GET', timeout: 2000 },
      (res) => {
        res.resume();
        resolve(true);
      },
    );
    req.once('error', () => resolve(false));
    req.once('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

/**
 * For jest test files: whether moto can be had; when not, registers one passing test whose name
 * says SKIPPED (and warns), so a run without Python says so loudly.
 */
export function motoOrSkip(packageName: string, what: string): boolean {
  const availability = motoAvailability();
  if (availability.available) return true;
  const message = `SKIPPED: ${what} on moto: ${availability.reason}`;
  test(message, () => {
    console.warn(`${packageName}: ${message}`);
    expect(availability.available).toBe(false);
  });
  return false;
}
