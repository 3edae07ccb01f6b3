import { isDurableError } from './errors.js';

/**
 * A pino-shaped logger: `warn(details, message)`. pino, bunyan-style loggers and `console` fit.
 * The actor, the orchestrator and `LockableStorageManager` send it what must not fail a call
 * that already committed.
 */
export interface DurableLogger {
  /** A problem worth an operator's attention that did not fail the call. */
  warn(details: Record<string, unknown>, message: string): void;
  /** What happened (a workflow completed, an event applied): used when the logger has it. */
  info?(details: Record<string, unknown>, message: string): void;
  /** Finer steps (a lease extended, a step recorded): used when the logger has it. */
  debug?(details: Record<string, unknown>, message: string): void;
  /** A failure of the thing logged (a workflow aborted): used when the logger has it, else `warn`. */
  error?(details: Record<string, unknown>, message: string): void;
}

/** @internal The default logger: the console, so nothing is lost when none is given. */
export const consoleLogger: DurableLogger = {
  warn: (details, message) => console.warn(message, details),
};

/**
 * @internal Reports a failure that came after a commit (a lease release, a hook): the commit
 * stands, so the caller must not see an error that invites a retry. A logger that throws is
 * ignored for the same reason.
 */
export function reportAfterCommit(
  logger: DurableLogger,
  message: string,
  error: unknown,
  details: Record<string, unknown>,
): void {
  const reason = error instanceof Error ? error.message : String(error);
  try {
    logger.warn(
      { ...details, err: error, ...(isDurableError(error) ? { code: error.code } : {}) },
      `${message}: ${reason}`,
    );
  } catch {
    // The logger itself failed: nothing more can be done without failing a committed call.
  }
}
