import { cleanup, durable, moduleUrl, tempFolder, writeConfig } from './support/cli.js';

// The config's orchestrations.prefix reaches the orchestration commands; its earlier name is
// refused with a usage error that names the new one, never ignored.
afterAll(cleanup);

function configWith(orchestrations: string): string {
  const dir = tempFolder('config');
  writeConfig(
    dir,
    `import { MemoryStorageManager } from ${JSON.stringify(moduleUrl('@durable/core'))};
const storage = new MemoryStorageManager();
await storage.write('tenant-a/p1', 'not an orchestration record');
export default { storage, orchestrations: ${orchestrations} };
`,
  );
  return dir;
}

test('orchestrations.prefix is where the orchestration commands look', async () => {
  const run = await durable(['orchestrations', 'list', '--json'], {
    cwd: configWith("{ prefix: 'tenant-a' }"),
  });
  expect(run.code).toBe(0);
  expect(run.stdout).toContain('p1');
});

test('orchestrations.keyPrefix is a usage error naming orchestrations.prefix', async () => {
  const run = await durable(['orchestrations', 'list', '--json'], {
    cwd: configWith("{ keyPrefix: 'tenant-a' }"),
  });
  expect(run.code).not.toBe(0);
  expect(run.stderr).toMatch(/orchestrations\.keyPrefix is now orchestrations\.prefix/);
});
