import { isDurableError } from '@durable/core';

/** The exit codes of the `durable` command: scripts can tell these cases apart. */
export const ExitCode = {
  /** Done. */
  OK: 0,
  /** The operation failed (a backend error, an unexpected error): retrying may help. */
  FAILED: 1,
  /** Bad usage or configuration (an unknown option, a bad value, no store configured). */
  USAGE: 2,
  /** The workflow, actor or process does not exist. */
  NOT_FOUND: 3,
  /** Refused: the action does not apply in the current state (cancel of a finished workflow...). */
  REFUSED: 4,
} as const;

/** One of the {@link ExitCode} values. */
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** An error that ends the command with `exitCode` and prints only its message. */
export class CliError extends Error {
  /** The process exit code. */
  readonly exitCode: ExitCode;

  constructor(exitCode: ExitCode, message: string) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

const USAGE_CODES = new Set(['CONFIG', 'INVALID_KEY', 'SERIALIZATION', 'VERSION_UNKNOWN']);

/** The exit code for any error a command ended with. */
export function exitCodeOf(error: unknown): ExitCode {
  if (error instanceof CliError) return error.exitCode;
  if (isDurableError(error)) {
    if (USAGE_CODES.has(error.code)) return ExitCode.USAGE;
    if (error.code === 'NOT_FOUND') return ExitCode.NOT_FOUND;
  }
  return ExitCode.FAILED;
}
