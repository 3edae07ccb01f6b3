export { runCli } from './program.js';
export type { CliEnvironment } from './program.js';
export { CONFIG_FILES, defineConfig, findConfigFile, fsConfig, loadConfig } from './config.js';
export type { DurableConfig, DurableConfigExport, LoadedConfig } from './config.js';
export { CliError, ExitCode, exitCodeOf } from './exit-codes.js';
export { startConsole } from './console/server.js';
export type { ConsoleOptions, ConsoleServer } from './console/server.js';
export { workflowView } from './views.js';
export type { StepView, WorkflowView } from './views.js';
