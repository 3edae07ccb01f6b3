// Shared by the Mongo benches: the MongoDB-wire servers the tests start
// (scripts/test-servers/mongo-server.ts), in plain JS, on 127.0.0.1 and a free port, or
// MONGODB_URI. Each result's label says whose figures they are: never MongoDB's.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts `kind` ('ferretdb' or 'mongo-java-server'), or uses MONGODB_URI: `{ uri, label, stop }`. */
export async function startServer(kind) {
  if (process.env.MONGODB_URI)
    return { uri: process.env.MONGODB_URI, label: 'MONGODB_URI', stop: async () => undefined };
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'durable-bench-mongo-'));
  let proc;
  let label;
  if (kind === 'ferretdb') {
    const goBin = join(
      execFileSync('go', ['env', 'GOPATH'], { encoding: 'utf8' }).trim().split(':')[0],
      'bin',
      'ferretdb',
    );
    const binary = existsSync(goBin) ? goBin : 'ferretdb';
    proc = spawn(
      binary,
      [
        '--handler=sqlite',
        `--sqlite-url=file:${dir}/`,
        `--state-dir=${dir}`,
        `--listen-addr=127.0.0.1:${port}`,
        '--debug-addr=-',
        '--telemetry=disable',
        '--log-level=error',
      ],
      { stdio: 'ignore' },
    );
    label = "FerretDB 1.24.2 (SQLite) (FerretDB's figures, not MongoDB's)";
  } else {
    const jars = join(
      process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'),
      'durable',
      'mongo-java-server-1.46.0',
    );
    const main = fileURLToPath(
      new URL(
        '../../scripts/test-servers/mongo-java-server/MongoJavaServerMain.java',
        import.meta.url,
      ),
    );
    proc = spawn('java', ['-cp', `${jars}/*`, main, String(port)], { stdio: 'ignore' });
    label = "mongo-java-server 1.46.0 (memory) (its figures, not MongoDB's)";
  }
  for (let i = 0; !(await tcpOpen(port)); i++) {
    if (i > 2400) throw new Error(`${kind} did not start within 2 minutes`);
    await sleep(50);
  }
  return {
    uri: `mongodb://127.0.0.1:${port}/`,
    label,
    stop: async () => {
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      proc.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

function tcpOpen(port) {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}
