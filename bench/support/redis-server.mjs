// The Redis benches' server: @durable/test-support's launcher, always a server of the bench's own
// (REDIS_URL is ignored: a bench must not measure or flush a server it did not start).
import { startRedisServer } from '@durable/test-support';

/** Starts a redis-server of its own on a free port (no persistence): `{ url, stop }`. */
export async function startRedis() {
  const server = await startRedisServer({ own: true });
  return { url: server.url, stop: () => server.stop() };
}
