#!/usr/bin/env node
import { runCli } from './program.js';

// The `durable` command: exits with the code runCli resolves with (see ExitCode).
runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
}).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `durable: unexpected error: ${
        error instanceof Error ? (error.stack ?? error.message) : String(error)
      }\n`,
    );
    process.exitCode = 1;
  },
);
