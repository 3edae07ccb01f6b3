import pc from 'picocolors';

/** Colour functions; identity when colours are off. */
export type Colors = ReturnType<typeof pc.createColors>;

/** Where a command writes: stdout for results, stderr for progress and warnings. */
export interface Output {
  /** Writes a line of the result. */
  line(text?: string): void;
  /** Writes a warning or a note to stderr. */
  note(text: string): void;
  /** Writes `value` as JSON (the `--json` result). */
  json(value: unknown): void;
  /** Colours of stdout (off unless stdout is a terminal, `NO_COLOR` unset; `FORCE_COLOR` forces). */
  color: Colors;
  /** Shows progress on stderr (overwriting one line on a terminal); a no-op unless enabled. */
  progress(text: string): void;
  /** Ends the progress line. */
  progressDone(): void;
}

/** Streams an {@link Output} writes to (the process's, or a test's). */
export interface OutputStreams {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

/** Whether to colour a stream: a terminal and no `NO_COLOR`, or `FORCE_COLOR` set (not "0"). */
export function colorEnabled(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  if (env['FORCE_COLOR'] !== undefined && env['FORCE_COLOR'] !== '0') return true;
  if (env['NO_COLOR'] !== undefined && env['NO_COLOR'] !== '') return false;
  return stream.isTTY === true;
}

/** An {@link Output} on `streams`; progress shows on a terminal, or always with `progress: true`. */
export function createOutput(streams: OutputStreams, options: { progress?: boolean } = {}): Output {
  const tty = streams.stderr.isTTY === true;
  const showProgress = options.progress ?? tty;
  let open = false;
  return {
    line: (text = '') => void streams.stdout.write(`${text}\n`),
    note: (text) => void streams.stderr.write(`${text}\n`),
    json: (value) => void streams.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
    color: pc.createColors(colorEnabled(streams.stdout, streams.env)),
    progress: (text) => {
      if (!showProgress) return;
      if (tty) {
        streams.stderr.write(`\r\x1b[2K${text}`);
        open = true;
      } else {
        streams.stderr.write(`${text}\n`);
      }
    },
    progressDone: () => {
      if (open) streams.stderr.write('\r\x1b[2K');
      open = false;
    },
  };
}

/** An instant as `YYYY-MM-DD HH:MM:SS` UTC, or `-`. */
export function formatTime(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '-';
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

/** A duration in words: `850ms`, `4.2s`, `3m12s`, `2h05m`, `3d4h`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  const sign = ms < 0 ? '-' : '';
  const abs = Math.abs(ms);
  if (abs < 1000) return `${sign}${Math.round(abs)}ms`;
  if (abs < 60_000) return `${sign}${(abs / 1000).toFixed(1)}s`;
  const s = Math.floor(abs / 1000);
  if (s < 3600) return `${sign}${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86_400)
    return `${sign}${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(
      2,
      '0',
    )}m`;
  return `${sign}${Math.floor(s / 86_400)}d${Math.floor((s % 86_400) / 3600)}h`;
}

/** JSON on one line, cut to `max` characters. */
export function brief(value: unknown, max = 60): string {
  let text: string;
  try {
    text = value === undefined ? '-' : (JSON.stringify(value) ?? unserialisable(value));
  } catch {
    // A cycle or a bigint somewhere inside: JSON cannot say it.
    text = unserialisable(value);
  }
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

// What JSON leaves out (undefined, a function, a symbol) or cannot write (a bigint, a cycle).
function unserialisable(value: unknown): string {
  switch (typeof value) {
    case 'function':
      return `[function ${value.name === '' ? 'anonymous' : value.name}]`;
    case 'symbol':
      return value.toString();
    case 'bigint':
      return `${value}n`;
    case 'object':
      return value === null ? 'null' : '[object that JSON cannot write]';
    default:
      return String(value);
  }
}

/** Renders rows as aligned columns (the first row is the header, dimmed on colour). */
export function table(rows: string[][], color: Colors): string[] {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, visibleLength(cell))));
  return rows.map((row, index) => {
    const text = row
      .map((cell, i) =>
        i === row.length - 1 ? cell : cell + ' '.repeat((widths[i] ?? 0) - visibleLength(cell)),
      )
      .join('  ');
    return index === 0 ? color.bold(text) : text;
  });
}

function visibleLength(text: string): number {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;]*m/g, '').length;
}

/** A workflow status in its colour. */
export function statusColor(status: string, color: Colors): string {
  switch (status) {
    case 'completed':
      return color.green(status);
    case 'aborted':
    case 'failed':
      return color.red(status);
    case 'cancelled':
      return color.yellow(status);
    case 'running':
      return color.cyan(status);
    default:
      return status;
  }
}
