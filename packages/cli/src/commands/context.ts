import type { LoadedConfig } from '../config.js';
import type { Output } from '../output.js';

/** What every command gets: its output, the config (loaded on first use), and the clock. */
export interface CommandContext {
  out: Output;
  config: () => Promise<LoadedConfig>;
  now: () => number;
}
