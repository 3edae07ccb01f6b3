import { createConnection } from 'node:net';
import { join } from 'node:path';
import { startChildServer } from '../src/index.js';

const script = join(__dirname, 'fixtures', 'echo-server.cjs');

function ping(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () => socket.write('ping'));
    let reply = '';
    socket.on('data', (chunk) => (reply += chunk.toString()));
    socket.on('end', () => resolve(reply));
    socket.on('error', reject);
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('startChildServer', () => {
  test('resolves with the port the child printed, and stop() ends the child', async () => {
    const server = await startChildServer(script, ['listen']);
    expect(server.port).toBeGreaterThan(0);
    expect(await ping(server.port)).toBe('pong');
    await server.stop();
    expect(alive(server.pid)).toBe(false);
    await expect(ping(server.port)).rejects.toThrow(/ECONNREFUSED/);
    await server.stop(); // a second stop is a no-op
  });

  test('kill() ends the child at once, as a crash would', async () => {
    const server = await startChildServer(script, ['listen']);
    await server.kill();
    expect(alive(server.pid)).toBe(false);
    await expect(ping(server.port)).rejects.toThrow(/ECONNREFUSED/);
  });

  test('a child that exits before listening rejects with its stderr', async () => {
    await expect(startChildServer(script, ['exit'])).rejects.toThrow(
      /exited with 3 before listening: cannot bind: address in use/,
    );
  });

  test('a child whose first line is not {"port": N} is killed, and the line is in the error', async () => {
    await expect(startChildServer(script, ['chatter'])).rejects.toThrow(
      /printed starting up\.\.\./,
    );
  });
});
