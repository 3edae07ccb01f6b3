import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { LockManager, StorageManager, WorkflowStore } from '@durable/core';
import { FileLockManager, LocalFileStorageManager, FileWorkflowStore } from '@durable/fs';
import type { AnyStateMachine } from 'xstate';
import { CliError, ExitCode } from './exit-codes.js';

/** The names a config file may have, looked up in this order in each folder. */
export const CONFIG_FILES = [
  'durable.config.mjs',
  'durable.config.js',
  'durable.config.cjs',
] as const;

/** What the CLI and the console work on: export it (or a function returning it) from `durable.config.mjs`. */
export interface DurableConfig {
  /** The workflow store to list, show, cancel, resume and signal. */
  workflows?: WorkflowStore;
  /** The storage of actors and orchestrations (read only, except nothing: the CLI never writes it). */
  storage?: StorageManager;
  /** The lock of actors and orchestrations, to show who holds a lease (needs `LockManager.holder`). */
  lock?: LockManager;
  /** The orchestrator's options the CLI needs: its key prefix, and its machines to draw diagrams. */
  orchestrations?: {
    /** The key prefix of processes, as given to `orchestrateCloudEvents`. @default "orchestrations" */
    prefix?: string;
    /** The machine versions as given to `orchestrateCloudEvents` (for `--mermaid` and the console's diagrams). */
    versions?: ReadonlyArray<{ version: string; logic: AnyStateMachine }>;
  };
  /** Called once the command is done: close the clients the config opened. */
  close?: () => void | Promise<void>;
}

/** What a config file exports (default export): the config, or a function that makes it. */
export type DurableConfigExport = DurableConfig | (() => DurableConfig | Promise<DurableConfig>);

/** Types a config file's export: `export default defineConfig({ workflows: store })`. */
export function defineConfig<T extends DurableConfigExport>(config: T): T {
  return config;
}

/** Where the config came from (shown by `--verbose` and in errors). */
export interface LoadedConfig {
  config: DurableConfig;
  /** `--fs <dir>`, or the config file's path. */
  source: string;
}

/** The first config file in `cwd` or a folder above it, or `undefined`. */
export function findConfigFile(cwd: string): string | undefined {
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    for (const name of CONFIG_FILES) {
      const file = join(dir, name);
      if (existsSync(file)) return file;
    }
    if (dirname(dir) === dir) return undefined;
  }
}

/** The stores of the embedded default on folder `dir` (what the examples write). */
export function fsConfig(dir: string): DurableConfig {
  const root = resolve(dir);
  if (!existsSync(root)) throw new CliError(ExitCode.USAGE, `--fs ${dir}: no such folder`);
  return {
    workflows: new FileWorkflowStore({ root }),
    storage: new LocalFileStorageManager({ root }),
    lock: new FileLockManager({ root }),
  };
}

/** Loads the config: `--fs`, else `--config`, else the first `durable.config.*` from `cwd` upward. */
export async function loadConfig(options: {
  fs?: string;
  config?: string;
  cwd: string;
}): Promise<LoadedConfig> {
  if (options.fs !== undefined && options.config !== undefined) {
    throw new CliError(ExitCode.USAGE, 'give either --fs <dir> or --config <file>, not both');
  }
  if (options.fs !== undefined)
    return { config: fsConfig(options.fs), source: `--fs ${resolve(options.fs)}` };
  const file =
    options.config === undefined
      ? findConfigFile(options.cwd)
      : resolve(options.cwd, options.config);
  if (file === undefined) {
    throw new CliError(
      ExitCode.USAGE,
      `no store: run with --fs <dir> (the folder your app gives @durable/fs), or write a durable.config.mjs (looked up from ${options.cwd} upward) that exports { workflows, storage, lock }`,
    );
  }
  if (!existsSync(file))
    throw new CliError(ExitCode.USAGE, `--config ${options.config}: no such file`);
  let exported: unknown;
  try {
    const module = (await import(pathToFileURL(file).href)) as { default?: unknown };
    exported = module.default;
  } catch (error) {
    throw new CliError(
      ExitCode.USAGE,
      `${file}: could not be loaded: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const config = typeof exported === 'function' ? await (exported as () => unknown)() : exported;
  if (typeof config !== 'object' || config === null) {
    throw new CliError(
      ExitCode.USAGE,
      `${file}: the default export must be the config object (or a function returning it): export default { workflows, storage, lock }`,
    );
  }
  const known = new Set(['workflows', 'storage', 'lock', 'orchestrations', 'close']);
  const unknown = Object.keys(config).filter((key) => !known.has(key));
  if (unknown.length > 0) {
    throw new CliError(
      ExitCode.USAGE,
      `${file}: unknown config key ${unknown
        .map((k) => JSON.stringify(k))
        .join(', ')}; the keys are: ${[...known].join(', ')}`,
    );
  }
  const orchestrations = (config as { orchestrations?: unknown }).orchestrations;
  if (
    typeof orchestrations === 'object' &&
    orchestrations !== null &&
    'keyPrefix' in orchestrations
  ) {
    throw new CliError(
      ExitCode.USAGE,
      `${file}: orchestrations.keyPrefix is now orchestrations.prefix (as orchestrateCloudEvents names it); rename it`,
    );
  }
  return { config: config as DurableConfig, source: file };
}

/** The workflow store, or a usage error saying how to configure one. */
export function requireWorkflows(loaded: LoadedConfig): WorkflowStore {
  const store = loaded.config.workflows;
  if (store === undefined)
    throw new CliError(
      ExitCode.USAGE,
      `${loaded.source}: no workflow store: export { workflows: <a WorkflowStore> }`,
    );
  return store;
}

/** The storage of actors and orchestrations, or a usage error saying how to configure it. */
export function requireStorage(loaded: LoadedConfig): StorageManager {
  const storage = loaded.config.storage;
  if (storage === undefined)
    throw new CliError(
      ExitCode.USAGE,
      `${loaded.source}: no storage: export { storage: <the StorageManager of your actors and orchestrations> }`,
    );
  return storage;
}
