import type { WorkflowStatus } from '@durable/core';
import { WorkflowStatus as Statuses } from '@durable/core';
import { CliError, ExitCode } from '../exit-codes.js';

const STATUSES = Object.values(Statuses) as string[];
const UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** `ready,failed` into statuses; a usage error naming the valid ones otherwise. */
export function parseStatuses(text: string): WorkflowStatus[] {
  const list = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  for (const status of list) {
    if (!STATUSES.includes(status))
      throw new CliError(
        ExitCode.USAGE,
        `--status ${status}: unknown status; the statuses are ${STATUSES.join(', ')}`,
      );
  }
  return list as WorkflowStatus[];
}

/**
 * An instant: an ISO date (`2026-12-01`, `2026-12-01T10:00Z`), epoch milliseconds, or a time ago
 * (`90s`, `30m`, `2h`, `7d`).
 */
export function parseInstant(text: string, option: string, now: number): number {
  const ago = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(text.trim());
  if (ago !== null) return now - Number(ago[1]) * (UNITS[ago[2] as string] as number);
  if (/^\d{10,}$/.test(text.trim())) return Number(text);
  const parsed = Date.parse(text);
  if (Number.isNaN(parsed)) {
    throw new CliError(
      ExitCode.USAGE,
      `${option} ${text}: not a time; give an ISO date (2026-12-01T10:00Z), epoch ms, or a time ago (30m, 2h, 7d)`,
    );
  }
  return parsed;
}

/** A whole number from `min` to `max`. */
export function parseCount(text: string, option: string, min: number, max: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max)
    throw new CliError(
      ExitCode.USAGE,
      `${option} ${text}: give a whole number from ${min} to ${max}`,
    );
  return value;
}

/** A JSON value given on the command line; a usage error saying how to quote it otherwise. */
export function parseJsonArgument(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new CliError(
      ExitCode.USAGE,
      `${what} ${text}: not JSON; quote it for the shell, e.g. '{"approved":true}' or '"text"'`,
    );
  }
}
