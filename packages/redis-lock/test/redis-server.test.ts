import { createConnection } from 'node:net';
import { startRedisServer } from '@durable/test-support';

// The test launcher itself: a real server answers, kill() stops it, restart() brings it back.
function ping(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('error', (error) => resolve(`error: ${error.message}`));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString().trim());
    });
  });
}

test('startRedisServer starts a redis-server on a free port that is gone after kill() and back after restart()', async () => {
  const server = await startRedisServer({ own: true });
  try {
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
    expect(server.pid).toBeGreaterThan(0);
    expect(await ping(server.port)).toBe('+PONG');
    await server.kill();
    expect(await ping(server.port)).toMatch(/^error: .*ECONNREFUSED/);
    await server.restart();
    expect(await ping(server.port)).toBe('+PONG');
  } finally {
    await server.stop();
  }
  expect(await ping(server.port)).toMatch(/^error/);
});
