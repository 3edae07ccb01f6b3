// TEST INFRASTRUCTURE, NOT PART OF THE PUBLISHED PACKAGE.
// Runs dynalite (npm) on 127.0.0.1 in this child process: `node dynalite-server.cjs <dir|-> [port]`.
// With a folder, tables live in LevelDB there, so a restart after a kill keeps them. Prints one
// JSON line `{"port": N}` when listening. dynalite has no TTL sweeper (expired items stay),
// which is exactly what the lock must cope with.
'use strict';

const dynalite = require('dynalite');

const directory = process.argv[2];
const port = Number(process.argv[3] ?? 0);
const server = dynalite({
  createTableMs: 0,
  deleteTableMs: 0,
  updateTableMs: 0,
  ...(directory && directory !== '-' ? { path: directory } : {}),
});
server.listen(port, '127.0.0.1', (error) => {
  if (error) {
    console.error(error);
    process.exit(1);
  }
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
