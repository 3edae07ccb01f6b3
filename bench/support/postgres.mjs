// The peer benches' PostgreSQL: @durable/test-support's throwaway cluster with fsync on (the
// default durability: synchronous_commit on), or DATABASE_URL.
import { startTestPostgres } from '@durable/test-support';

/** Starts a cluster (or uses DATABASE_URL): `{ url(db), version, stop(), cpuMs() }`. */
export async function startPostgres() {
  const pg = await startTestPostgres({ fsync: true });
  return {
    url: (database) => pg.urlFor(database),
    version: pg.label,
    stop: () => pg.stop(),
    cpuMs: () => pg.serverCpuMs(),
  };
}
