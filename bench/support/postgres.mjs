// A throwaway PostgreSQL cluster for the peer benches (Debian's postgresql package, run as root):
// initdb in a temporary folder owned by the postgres user, listening on 127.0.0.1 on a free
// port, with the default durability settings (fsync on, synchronous_commit on). Stopped and
// removed by stop(), and on exit. Set DATABASE_URL to use a server of your own instead.
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function binDir() {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  if (versions.length === 0)
    throw new Error('PostgreSQL is not installed: apt-get install -y postgresql');
  return join(root, versions[0], 'bin');
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** Starts a cluster (or uses DATABASE_URL); resolves to { baseUrl, url(db), stop }. */
export async function startPostgres() {
  if (process.env.DATABASE_URL) {
    const base = process.env.DATABASE_URL.replace(/\/[^/]*$/, '');
    return {
      url: (db) => `${base}/${db}`,
      version: 'DATABASE_URL',
      stop: async () => {},
      cpuMs: () => Number.NaN,
    };
  }
  const bin = binDir();
  const dir = mkdtempSync(join(tmpdir(), 'durable-bench-pg-'));
  const id = (flag) => Number(execFileSync('id', [flag, 'postgres']).toString().trim());
  const uid = id('-u');
  const gid = id('-g');
  chownSync(dir, uid, gid);
  const data = join(dir, 'data');
  const port = await freePort();
  const asPostgres = (command) =>
    execFileSync('su', ['postgres', '-c', command], { stdio: ['ignore', 'pipe', 'pipe'] });
  asPostgres(`${bin}/initdb -D ${data} -U postgres --auth=trust >/dev/null`);
  asPostgres(
    `${bin}/pg_ctl -D ${data} -l ${dir}/log -w -o "-c listen_addresses=127.0.0.1 -p ${port} -k ${dir}" start >/dev/null`,
  );
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      asPostgres(`${bin}/pg_ctl -D ${data} -m fast -w stop >/dev/null`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  process.on('exit', () => {
    if (!stopped) {
      try {
        asPostgres(`${bin}/pg_ctl -D ${data} -m immediate -w stop >/dev/null`);
      } catch {}
      rmSync(dir, { recursive: true, force: true });
    }
  });
  const version = execFileSync(`${bin}/postgres`, ['--version']).toString().trim();
  const postmaster = () =>
    Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  return {
    url: (db) => `postgresql://postgres@127.0.0.1:${port}/${db}`,
    version,
    stop,
    cpuMs: () => serverCpuMs(postmaster()),
  };
}

const TICK_MS = 1000 / Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());

/**
 * CPU time (user + system, ms) used so far by the postmaster and its live children (backends,
 * WAL writer, checkpointer...). Children that already exited are not counted: read it while
 * the connections of the work being measured are still open.
 */
function serverCpuMs(postmaster) {
  let ticks = 0;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    // Fields after the command name (which may hold spaces, inside parentheses).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const pid = Number(name);
    const ppid = Number(fields[1]);
    if (pid === postmaster || ppid === postmaster) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks * TICK_MS;
}
